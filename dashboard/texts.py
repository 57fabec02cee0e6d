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
[pyribs](https://pyribs.org) (CMA-MAEGA by default) keeps the best image it finds in every
cell. Random sampling with the same budget is shown beside every result, so you can see the
bias it leaves behind. The balanced sample can then be downloaded as an image dataset.

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
    "Where the samples land. Left: the QD search; right: plain random sampling of the same "
    "model with the same budget. A balanced method paints the map evenly; random sampling piles "
    "up where the training data did."
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
EXPORT_HELP = (
    "Draws the same number of images from every bin of the attribute grid (skipping low-quality "
    "ones) and packs them as a zip that loads as a Hugging Face `imagefolder` or torchvision "
    "`ImageFolder` dataset, with a dataset card."
)
RUNS_HELP = "Runs of this browser session only. Reopen one to see its maps and export it again."

METRIC_TIPS = {
    "coverage": "Share of archive cells holding at least one image. Higher = more combinations reached.",
    "uniformity": (
        "How evenly the samples spread over the cells: normalised entropy, 100% = perfectly even, "
        "0% = all in one cell."
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
    "qd_score": "QD score",
    "diversity": "Diversity",
    "best_objective": "Best quality",
}

NO_RUN_YET = "Run a search to see this."
