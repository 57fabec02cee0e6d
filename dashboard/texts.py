"""Every sentence the dashboard shows, in one place (plain words, for a classroom)."""

from __future__ import annotations

from core.config import MAX_LABEL_CHARS, MAX_PROMPT_CHARS, MAX_SEED

TITLE = "QDGS Studio"
SUBTITLE = (
    "Describe attributes with words, let a quality-diversity search find images for every "
    "combination of them, and download a dataset that is balanced across those attributes."
)

WHAT_IS_THIS = """
**What is this?** A generative model reproduces the biases of its training data: sample it at
random and some combinations of attributes (say, *small red triangles*) almost never appear.
*Quality-Diversity Generative Sampling* (QDGS; Chang et al., AAAI 2024) searches the model's
latent space instead. Each **measure** is a pair of prompts, e.g. "a red shape" vs "a blue
shape": a text-image model scores how much more an image matches the first than the second.
The measures span a grid (the **archive**); a QD algorithm from
[pyribs](https://pyribs.org) keeps the best image it finds in every cell. Random sampling with
the same budget is shown beside every result, as drawn and put through the same balanced
selection (*balanced random*, the honest baseline), so you can see the bias it leaves behind.

A search will find images that fool the text-image model it optimises. So an independent
**judge** that the search never sees (in the shapes world: reading colour and outline off the
pixels) checks whether the images show what their scores claim. Trust the judge's figures
over the scorer's. The balanced sample can then be downloaded as an image dataset.

[Paper (arXiv:2312.14369)](https://arxiv.org/abs/2312.14369) · [pyribs](https://pyribs.org)
"""

PROMPTS_HELP = (
    "Each row is one attribute: the image is scored on how much more it looks like the first "
    "text than the second. Separate several phrasings with `|` to average them. "
    f"At most {MAX_PROMPT_CHARS} characters a text and {MAX_LABEL_CHARS} a name; the two texts "
    "of a row must differ (not just in capitals or spaces)."
)
OBJECTIVE_HELP = "Quality: what every image should look like, whatever its attributes."
PRESETS_HELP = "Ready-made attribute sets: click one to fill the rows."
ADVANCED_HELP = "The defaults finish in well under a minute on a laptop CPU."
SEED_HELP = f"a whole number from 0 to {MAX_SEED:,}; the same seed gives the same run"
RUN_HELP = "Run starts the search; Stop ends it within a second or two and keeps what was found."

HEATMAP_HELP = (
    "Each cell is one combination of the attributes; colour = the quality of the best image "
    "found there. Empty cells have not been reached yet."
)
DENSITY_HELP = (
    "Where the samples land, as the scorer sees them. Left: the QD search; middle: random samples "
    "of the same model and budget put through the same balanced draw; right: plain random "
    "sampling. A balanced method paints the map evenly; random sampling piles up where the "
    "training data did. The judge cards above say how many of those images really show their cell."
)
CURVES_HELP = (
    "How the search fills the map over time. Solid: QD search; dashed: random sampling at the "
    "same number of evaluations."
)
GALLERY_HELP = (
    "The best image in each cell, laid out along the two attributes (left), and as a list "
    "(right); click one to see it large with its scores."
)
RANDOM_GALLERY_HELP = "The same number of images drawn at random: notice how alike they are."
JUDGE_AFTER_RUN = "judged when the run ends"
EXPORT_HELP = (
    "Draws the same number of images from every bin of the attribute grid (skipping low-quality "
    "ones and, at the ends of each attribute, images that are not clear examples of it) and packs "
    "them as a zip that loads as a Hugging Face `imagefolder` or torchvision `ImageFolder` "
    "dataset, with a dataset card. The judge checks every image; *verified* keeps only those it "
    "agrees with. Bins without enough images are reported as short, never padded."
)
VERIFIED_LABEL = "Verified: keep only images the judge agrees with"
SIDE_NAMES = {"qd": "QD", "balanced_random": "balanced random", "random": "random"}
DENSITY_TITLES = {"qd": "QD search", "balanced_random": "Balanced random", "random": "Random sampling"}
RUNS_HELP = (
    "Runs of this browser session only. Reopen one to see its maps and export it again, or continue it "
    "to a larger total budget: the search goes on exactly where it stopped, with the calibration it had."
)
CONTINUE_LABEL = "Continue the selected run to a total of (evaluations)"

METRIC_TIPS = {
    "coverage": "Share of archive cells holding at least one image. Higher = more combinations reached.",
    "uniformity": (
        "How evenly the samples spread over the cells: normalised entropy, 100% = perfectly even, "
        "0% = all in one cell."
    ),
    "judge": (
        "Share of a balanced draw over two bins per attribute that the independent judge finds one "
        "clean subject on the claimed side of every attribute. The search never sees the judge."
    ),
    "verified": (
        "How evenly the images the judge agrees with spread over the 2 x 2 ... bins (normalised "
        "entropy): the scorer-free counterpart of uniformity."
    ),
    "qd_score": "Sum of the quality of the best image in every filled cell: rewards both reach and quality.",
    "diversity": (
        "Vendi score of the image embeddings of the elites in the gallery (and of as many random "
        "samples): the effective number of distinct images."
    ),
    "best_objective": "Quality of the best image found so far.",
}
METRIC_NAMES = {
    "coverage": "Coverage",
    "uniformity": "Uniformity",
    "judge": "Judge agrees",
    "verified": "Verified balance",
    "qd_score": "QD score",
    "diversity": "Diversity",
    "best_objective": "Best quality",
}

NO_RUN_YET = "Run a search to see this."
