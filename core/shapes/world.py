"""The built-in shapes world: attributes, their joint distribution, and a numpy renderer.

An image shows one shape (circle, square, triangle or star) on a plain white background.
Its attributes are continuous where that makes sense:

- ``hue`` in [0, 1) (named colours are hue ranges around :data:`COLOURS` centres),
- ``saturation`` and ``value`` (HSV; low saturation reads as *pale*, zero as *grey*),
- ``size`` (the shape's outer diameter as a fraction of the image side; named by
  :data:`SIZES`), ``rotation`` (radians), ``dx``/``dy`` (centre offset, fraction of the side),
- ``blur`` (edge width in pixels: about 1 is sharp, 3 or more reads as blurry),
- ``smudge`` (the shape is replaced by an irregular soft blob),
- ``count`` (1 = one shape; 2 to 4 = several shapes of the same colour),
- ``seed`` (drives the blob outline and the extra shapes, so rendering is a pure function of
  the attributes),
- ``morph_shape`` / ``morph`` (a hybrid outline: the signed distances of the shape and of a
  second shape blended with weight ``morph``; -1 / 0 = none),
- ``hue2`` (a two-coloured shape: one half of it in this second hue; NaN = none).

Hybrids and two-coloured shapes are what a search through a generator's latent space finds
between the shapes it learnt; the world renders them so that scorers and judges can be
trained and tested on them.

A :class:`BiasSpec` is the joint distribution; :data:`BIAS_PRESETS` holds the five bias levels
of the method's toy domain, where ``P(red | triangle) = P(blue | square) = level``.

Example::

    rng = np.random.default_rng(0)
    attrs = sample_attributes(16, bias="0.90", rng=rng)
    images = render(attrs)               # (16, 64, 64, 3) float32 in [0, 1]
    attrs.shape_names(), attrs.colour_names(), attrs.size_names()
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from ..errors import InputError

__all__ = [
    "SHAPES",
    "COLOURS",
    "SIZES",
    "IMAGE_SIZE",
    "BACKGROUND",
    "GREY_SATURATION",
    "PALE_SATURATION",
    "BLURRY_EDGE",
    "ShapeAttributes",
    "BiasSpec",
    "BIAS_PRESETS",
    "UNBIASED",
    "SCORER_WORLD",
    "sample_attributes",
    "attributes_for",
    "render",
    "shape_sdf",
    "hue_to_colour",
    "size_to_name",
]

# ---------------------------------------------------------------------------------------------
# Vocabulary of the world
# ---------------------------------------------------------------------------------------------

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
"""Shape names; ``ShapeAttributes.shape`` indexes this tuple."""

EDGES: dict[str, int] = {"circle": 0, "square": 4, "triangle": 3, "star": 10}
"""Number of straight edges of each shape (used by captions such as 'a triangle with 3 edges')."""

COLOURS: dict[str, float] = {
    "red": 0.0 / 360,
    "orange": 30.0 / 360,
    "yellow": 55.0 / 360,
    "green": 120.0 / 360,
    "cyan": 185.0 / 360,
    "blue": 230.0 / 360,
    "purple": 280.0 / 360,
    "pink": 325.0 / 360,
}
"""Named colours and their hue centres in [0, 1). A hue is named after the nearest centre."""

SIZES: dict[str, tuple[float, float]] = {
    "small": (0.22, 0.40),
    "medium": (0.40, 0.60),
    "large": (0.60, 0.85),
}
"""Named sizes: ranges of the outer diameter as a fraction of the image side."""

IMAGE_SIZE = 64  # default side in pixels (rendering 64x64 runs at thousands of images/s/core)
BACKGROUND = (1.0, 1.0, 1.0)  # plain white background, RGB in [0, 1]
GREY_SATURATION = 0.08  # saturation below which a shape is named "grey" rather than a colour
PALE_SATURATION = 0.40  # saturation below which a (non-grey) shape reads as "pale"
VIVID_SATURATION = (0.70, 1.00)  # saturation range of ordinary (vivid) shapes
VIVID_VALUE = (0.70, 1.00)  # HSV value range of ordinary shapes
PALE_VALUE = (0.85, 1.00)  # HSV value range of pale shapes
GREY_VALUE = (0.35, 0.85)  # HSV value range of grey shapes
SHARP_EDGE = (0.8, 1.2)  # edge width (pixels) of ordinary, sharp shapes
BLURRY_EDGE = (3.5, 8.0)  # edge width (pixels) of blurred shapes
HUE_JITTER = 0.35  # a named colour is drawn within +-HUE_JITTER x (half gap to its neighbours)
MAX_OFFSET = 0.12  # largest centre offset, fraction of the side (kept so shapes stay inside)
STAR_INNER = 0.45  # inner / outer radius of the five-pointed star
HYBRID_MORPH = (0.35, 0.65)  # a blended outline with a weight in this range is neither shape
MORPH_RANGE = HYBRID_MORPH  # weights drawn for hybrid outlines


def _hue_bounds() -> dict[str, tuple[float, float]]:
    """Half-gaps below and above each colour centre (hue units), for named-colour sampling."""
    names = list(COLOURS)
    centres = np.array([COLOURS[c] for c in names])
    out = {}
    for i, name in enumerate(names):
        below = (centres[i] - centres[i - 1]) % 1.0
        above = (centres[(i + 1) % len(names)] - centres[i]) % 1.0
        out[name] = (below / 2, above / 2)
    return out


_HUE_HALF_GAPS = _hue_bounds()


def hue_to_colour(hue: np.ndarray) -> np.ndarray:
    """Names hues after the nearest colour centre.

    Args:
        hue: Array of hues in [0, 1), any shape.

    Returns:
        Array of colour names (dtype object), same shape.
    """
    hue = np.asarray(hue, dtype=np.float64)
    names = np.array(list(COLOURS), dtype=object)
    centres = np.array(list(COLOURS.values()))
    d = np.abs(((hue[..., None] - centres) + 0.5) % 1.0 - 0.5)
    return names[np.argmin(d, axis=-1)]


def size_to_name(size: np.ndarray) -> np.ndarray:
    """Names sizes (fraction of the side) small / medium / large; same shape, dtype object."""
    size = np.asarray(size, dtype=np.float64)
    out = np.full(size.shape, "medium", dtype=object)
    out[size < SIZES["small"][1]] = "small"
    out[size >= SIZES["large"][0]] = "large"
    return out


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeAttributes:
    """Attributes of ``n`` images, one array of shape (n,) per field."""

    shape: np.ndarray  # int, index into SHAPES
    hue: np.ndarray  # float in [0, 1)
    saturation: np.ndarray  # float in [0, 1]; < GREY_SATURATION is grey, < PALE_SATURATION pale
    value: np.ndarray  # float in [0, 1], HSV value (brightness)
    size: np.ndarray  # float, outer diameter as a fraction of the image side
    rotation: np.ndarray  # float, radians
    dx: np.ndarray  # float, centre offset along x, fraction of the side
    dy: np.ndarray  # float, centre offset along y, fraction of the side
    blur: np.ndarray  # float, edge width in pixels (about 1 = sharp)
    smudge: np.ndarray  # bool, draw an irregular soft blob instead of the shape
    count: np.ndarray  # int, number of shapes drawn (1 = a single shape)
    seed: np.ndarray  # int, drives the blob outline and the extra shapes
    morph_shape: np.ndarray | None = None  # int, second shape blended into the outline; -1 = none
    morph: np.ndarray | None = None  # float in [0, 1], weight of the second shape's outline; 0 = none
    hue2: np.ndarray | None = None  # float hue of the shape's second half; NaN = one colour

    def __post_init__(self) -> None:
        n = len(self.shape)
        for name, fill, dtype in (("morph_shape", -1, np.int64), ("morph", 0.0, np.float64), ("hue2", np.nan, np.float64)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, fill, dtype=dtype))
        for f in dataclasses.fields(self):
            arr = getattr(self, f.name)
            if not isinstance(arr, np.ndarray) or arr.shape != (n,):
                raise InputError(f"ShapeAttributes.{f.name}", getattr(arr, "shape", arr), f"an array of shape ({n},)")

    def __len__(self) -> int:
        return len(self.shape)

    def __getitem__(self, index: object) -> "ShapeAttributes":
        """A subset (slice, index array or boolean mask) as new attributes."""
        kw = {f.name: np.atleast_1d(getattr(self, f.name)[index]) for f in dataclasses.fields(self)}
        return ShapeAttributes(**kw)

    @staticmethod
    def concat(parts: list["ShapeAttributes"]) -> "ShapeAttributes":
        """Concatenates attribute sets in order."""
        return ShapeAttributes(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(ShapeAttributes)}
        )

    def replace(self, **changes: np.ndarray | float | int | bool) -> "ShapeAttributes":
        """A copy with some fields replaced (scalars are broadcast to (n,))."""
        n = len(self)
        kw = {}
        for key, val in changes.items():
            ref = getattr(self, key)
            kw[key] = np.broadcast_to(np.asarray(val, dtype=ref.dtype), (n,)).copy()
        return dataclasses.replace(self, **kw)

    # Labels --------------------------------------------------------------------------------
    def shape_names(self) -> np.ndarray:
        """(n,) shape names ("smudge" for blobs)."""
        names = np.array(SHAPES, dtype=object)[self.shape]
        names[self.smudge] = "smudge"
        return names

    def colour_names(self) -> np.ndarray:
        """(n,) colour names: a key of COLOURS, or "grey" for unsaturated shapes."""
        names = hue_to_colour(self.hue)
        names[self.saturation < GREY_SATURATION] = "grey"
        return names

    def size_names(self) -> np.ndarray:
        """(n,) "small", "medium" or "large"."""
        return size_to_name(self.size)

    def is_pale(self) -> np.ndarray:
        """(n,) bool: desaturated but not grey."""
        return (self.saturation < PALE_SATURATION) & (self.saturation >= GREY_SATURATION)

    def is_blurry(self) -> np.ndarray:
        """(n,) bool: edges wider than 2.5 pixels."""
        return self.blur > 2.5

    def is_hybrid(self) -> np.ndarray:
        """(n,) bool: an outline between two shapes (morph weight in HYBRID_MORPH) or two colours."""
        lo, hi = HYBRID_MORPH
        return ((self.morph_shape >= 0) & (self.morph > lo) & (self.morph < hi)) | ~np.isnan(self.hue2)

    def is_clean(self) -> np.ndarray:
        """(n,) bool: a single, sharp, vivid shape (not a smudge, a hybrid, pale or grey)."""
        return (
            (self.count == 1) & ~self.smudge & ~self.is_blurry() & (self.saturation >= PALE_SATURATION) & ~self.is_hybrid()
        )

    def labels(self) -> dict[str, np.ndarray]:
        """Named labels of every image: shape, colour, size (arrays of str) and flags."""
        return {
            "shape": self.shape_names(),
            "colour": self.colour_names(),
            "size": self.size_names(),
            "pale": self.is_pale(),
            "blurry": self.is_blurry(),
            "several": self.count > 1,
            "hybrid": self.is_hybrid(),
            "clean": self.is_clean(),
        }


# ---------------------------------------------------------------------------------------------
# Joint distributions
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BiasSpec:
    """A joint distribution of attributes.

    Shapes are uniform over ``shapes``. With ``level`` set, a triangle is red with probability
    ``level`` (else one of the other named colours, uniformly), a square is blue with
    probability ``level``, and every other shape takes a uniformly chosen named colour. Named
    colours are drawn within a band around their hue centre (see ``HUE_JITTER``). With
    ``level=None`` the hue is uniform on [0, 1) (continuous). Sizes are uniform over
    ``size_range``; rotation, offset are uniform. The ``*_prob`` fields add degraded images
    (used to train the scorer on what a search could exploit).
    """

    level: float | None = None  # P(red | triangle) = P(blue | square); None = no colour bias
    shapes: tuple[str, ...] = ("circle", "square", "triangle")  # shapes drawn, uniformly
    size_range: tuple[float, float] = (SIZES["small"][0], SIZES["large"][1])  # uniform size range
    named_hues: bool = True  # True: hues jittered around named centres; False: uniform hue
    pale_prob: float = 0.0  # probability of a pale (desaturated, light) shape
    grey_prob: float = 0.0  # probability of a grey shape
    blur_prob: float = 0.0  # probability of blurred edges
    smudge_prob: float = 0.0  # probability of a soft blob instead of a shape
    several_prob: float = 0.0  # probability of 2-4 shapes in one image
    morph_prob: float = 0.0  # probability of a hybrid outline between two shapes
    two_colour_prob: float = 0.0  # probability of a shape in two colours (one per half)

    def __post_init__(self) -> None:
        if self.level is not None and not 0.0 <= self.level <= 1.0:
            raise InputError("bias level", self.level, "a probability between 0 and 1, or None")
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown or not self.shapes:
            raise InputError("shapes", self.shapes, "a non-empty tuple of " + ", ".join(SHAPES))
        if self.level is not None and not {"triangle", "square"} <= set(self.shapes):
            raise InputError("shapes", self.shapes, "triangle and square when a bias level is set")
        total = (
            self.pale_prob + self.grey_prob + self.blur_prob + self.smudge_prob + self.several_prob
            + self.morph_prob + self.two_colour_prob
        )
        if total > 1.0:
            raise InputError("degradation probabilities", total, "a sum of at most 1")


BIAS_PRESETS: dict[str, BiasSpec] = {
    f"{level:.2f}": BiasSpec(level=level) for level in (0.98, 0.95, 0.90, 0.85, 0.80)
}
"""The method's five bias levels: clean circles, squares and triangles with
P(red | triangle) = P(blue | square) = level."""

UNBIASED = BiasSpec(level=None, named_hues=True)
"""Clean shapes with colours drawn uniformly over the named colours (balanced test data)."""

SCORER_WORLD = BiasSpec(
    level=None,
    shapes=SHAPES,
    named_hues=False,
    pale_prob=0.06,
    grey_prob=0.04,
    blur_prob=0.07,
    smudge_prob=0.06,
    several_prob=0.07,
    morph_prob=0.10,
    two_colour_prob=0.05,
)
"""What the scorer is trained on: all shapes, continuous hue, degraded images and hybrids
(outlines between two shapes, two-coloured shapes), so that it can tell a search's
look-alikes from the shapes they resemble."""


def _resolve_bias(bias: str | BiasSpec | None) -> BiasSpec:
    if bias is None:
        return UNBIASED
    if isinstance(bias, BiasSpec):
        return bias
    if isinstance(bias, str) and bias in BIAS_PRESETS:
        return BIAS_PRESETS[bias]
    raise InputError("bias", bias, "a BiasSpec, None or one of " + ", ".join(BIAS_PRESETS))


def _named_hue(names: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hues jittered around the centres of the given colour names, (n,)."""
    hue = np.empty(len(names))
    for name in COLOURS:
        mask = names == name
        k = int(mask.sum())
        if k:
            lo, hi = _HUE_HALF_GAPS[name]
            hue[mask] = COLOURS[name] + rng.uniform(-lo * HUE_JITTER, hi * HUE_JITTER, size=k)
    return hue % 1.0


def sample_attributes(
    n: int, *, bias: str | BiasSpec | None = "0.90", rng: np.random.Generator
) -> ShapeAttributes:
    """Draws attributes of ``n`` images from a joint distribution.

    Args:
        n: Number of images.
        bias: A key of :data:`BIAS_PRESETS` (e.g. ``"0.90"``), a :class:`BiasSpec`, or None
            for :data:`UNBIASED`.
        rng: Source of randomness (the result is a pure function of its state).

    Returns:
        :class:`ShapeAttributes` with arrays of shape (n,).

    Raises:
        InputError: ``bias`` is not a preset name or BiasSpec; ``n`` is negative.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError("n", n, "a non-negative integer")
    spec = _resolve_bias(bias)
    shape_idx = np.array([SHAPES.index(s) for s in spec.shapes])[rng.integers(len(spec.shapes), size=n)]
    names = np.array(list(COLOURS), dtype=object)

    # Colour.
    if spec.named_hues or spec.level is not None:
        colour = names[rng.integers(len(names), size=n)]
        if spec.level is not None:
            for shape, favoured in (("triangle", "red"), ("square", "blue")):
                mask = shape_idx == SHAPES.index(shape)
                k = int(mask.sum())
                others = names[names != favoured]
                chosen = np.where(rng.random(k) < spec.level, favoured, others[rng.integers(len(others), size=k)])
                colour[mask] = chosen
        hue = _named_hue(colour, rng)
    else:
        hue = rng.random(n)
    saturation = rng.uniform(*VIVID_SATURATION, size=n)
    value = rng.uniform(*VIVID_VALUE, size=n)
    size = rng.uniform(*spec.size_range, size=n)
    rotation = rng.uniform(0.0, 2 * np.pi, size=n)
    dx = rng.uniform(-1.0, 1.0, size=n)
    dy = rng.uniform(-1.0, 1.0, size=n)
    blur = rng.uniform(*SHARP_EDGE, size=n)
    smudge = np.zeros(n, dtype=bool)
    count = np.ones(n, dtype=np.int64)
    seed = rng.integers(0, 2**31 - 1, size=n)

    # At most one degradation per image, chosen with the spec's probabilities. (The hybrid
    # kinds come last so that specs without them draw exactly as before they existed.)
    probs = np.array([spec.pale_prob, spec.grey_prob, spec.blur_prob, spec.smudge_prob, spec.several_prob])
    extra = np.array([spec.morph_prob, spec.two_colour_prob])
    p = np.concatenate([probs, [1.0 - probs.sum() - extra.sum()], extra])
    kind = rng.choice(len(p), size=n, p=p / p.sum())
    pale, grey, blurry, smudged, several = (kind == i for i in range(5))
    morphed, two_colour = kind == 6, kind == 7
    saturation[pale] = rng.uniform(GREY_SATURATION + 0.04, PALE_SATURATION - 0.08, size=int(pale.sum()))
    value[pale] = rng.uniform(*PALE_VALUE, size=int(pale.sum()))
    saturation[grey] = 0.0
    value[grey] = rng.uniform(*GREY_VALUE, size=int(grey.sum()))
    blur[blurry] = rng.uniform(*BLURRY_EDGE, size=int(blurry.sum()))
    smudge[smudged] = True
    blur[smudged] = rng.uniform(2.5, 6.0, size=int(smudged.sum()))
    count[several] = rng.integers(2, 5, size=int(several.sum()))
    size[several] = np.minimum(size[several], SIZES["medium"][0])  # room for several

    morph_shape = np.full(n, -1, dtype=np.int64)
    morph = np.zeros(n)
    hue2 = np.full(n, np.nan)
    m = int(morphed.sum())
    if m:  # a second shape, different from the first, blended into the outline
        other = (shape_idx[morphed] + rng.integers(1, len(SHAPES), size=m)) % len(SHAPES)
        morph_shape[morphed] = other
        morph[morphed] = rng.uniform(*MORPH_RANGE, size=m)
    m = int(two_colour.sum())
    if m:  # a second hue at least a third of the hue circle away
        hue2[two_colour] = (hue[two_colour] + rng.uniform(1 / 3, 2 / 3, size=m)) % 1.0

    # Offsets that keep the shape inside the frame.
    room = np.clip((1.0 - size) / 2 - 0.02, 0.0, MAX_OFFSET)
    dx, dy = dx * room, dy * room
    return ShapeAttributes(
        shape=shape_idx.astype(np.int64),
        hue=hue.astype(np.float64),
        saturation=saturation,
        value=value,
        size=size,
        rotation=rotation,
        dx=dx,
        dy=dy,
        blur=blur,
        smudge=smudge,
        count=count,
        seed=seed.astype(np.int64),
        morph_shape=morph_shape,
        morph=morph,
        hue2=hue2,
    )


def attributes_for(
    n: int,
    *,
    rng: np.random.Generator,
    shape: str | None = None,
    colour: str | None = None,
    size: str | None = None,
    hue: float | np.ndarray | None = None,
) -> ShapeAttributes:
    """Clean single-shape attributes with some attributes fixed (held-out test sets).

    Args:
        n: Number of images.
        rng: Source of randomness for everything not fixed.
        shape: A name in SHAPES, or None for uniform over circle/square/triangle.
        colour: A name in COLOURS, or None for uniform named colours.
        size: A name in SIZES (uniform within its range), or None for the full range.
        hue: Exact hue(s) in [0, 1), overriding ``colour``; scalar or (n,).

    Returns:
        :class:`ShapeAttributes` of shape (n,).

    Raises:
        InputError: an unknown shape, colour or size name.
    """
    attrs = sample_attributes(n, bias=UNBIASED, rng=rng)
    changes: dict[str, np.ndarray] = {}
    if shape is not None:
        if shape not in SHAPES:
            raise InputError("shape", shape, "one of " + ", ".join(SHAPES))
        changes["shape"] = np.full(n, SHAPES.index(shape))
    if colour is not None:
        if colour not in COLOURS:
            raise InputError("colour", colour, "one of " + ", ".join(COLOURS))
        changes["hue"] = _named_hue(np.full(n, colour, dtype=object), rng)
    if hue is not None:
        changes["hue"] = np.broadcast_to(np.asarray(hue, dtype=np.float64) % 1.0, (n,))
    if size is not None:
        if size not in SIZES:
            raise InputError("size", size, "one of " + ", ".join(SIZES))
        new_size = rng.uniform(*SIZES[size], size=n)
        room = np.clip((1.0 - new_size) / 2 - 0.02, 0.0, MAX_OFFSET)
        changes["size"] = new_size
        changes["dx"] = rng.uniform(-1, 1, size=n) * room
        changes["dy"] = rng.uniform(-1, 1, size=n) * room
    return attrs.replace(**changes) if changes else attrs


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] to RGB in [0, 1]; inputs (n,), output (n, 3)."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, axis=-1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return table[i, np.arange(len(h))]


def _polygon_sdf(u: np.ndarray, v: np.ndarray, k: int, radius: np.ndarray) -> np.ndarray:
    """Signed distance (approx. outside corners) to a regular k-gon of circumradius ``radius``.

    Args:
        u, v: Local coordinates, (m, H, W). radius: (m,).

    Returns:
        (m, H, W), negative inside.
    """
    angles = (np.arange(k) + 0.5) * 2 * np.pi / k  # edge normals
    apothem = radius * np.cos(np.pi / k)
    d = u[..., None] * np.cos(angles) + v[..., None] * np.sin(angles)  # (m, H, W, k)
    return d.max(axis=-1) - apothem[:, None, None]


def _star_sdf(u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Signed distance (approx.) to a five-pointed star: union of a pentagon and 5 tips."""
    inner = radius * STAR_INNER
    parts = [_polygon_sdf(u, v, 5, inner)]
    tip_angles = np.pi / 5 + np.arange(5) * 2 * np.pi / 5  # inner vertices meet the pentagon's
    for a in tip_angles:
        # Triangle (tip, two adjacent inner vertices), as an intersection of 3 half-planes.
        tip = np.array([np.cos(a), np.sin(a)])
        p1 = np.array([np.cos(a - np.pi / 5), np.sin(a - np.pi / 5)]) * STAR_INNER
        p2 = np.array([np.cos(a + np.pi / 5), np.sin(a + np.pi / 5)]) * STAR_INNER
        dists = []
        for pa, pb in ((tip, p1), (p1, p2), (p2, tip)):
            e = pb - pa
            n = np.array([e[1], -e[0]]) / np.linalg.norm(e)  # outward for counter-clockwise order
            if np.dot(n, (pa + pb) / 2 - (tip + p1 + p2) / 3) < 0:
                n = -n
            off = np.dot(n, pa)
            if pa is p1:  # push the base into the pentagon so the union has no seam
                off += 0.3 * STAR_INNER
            dists.append(u * n[0] + v * n[1] - off * radius[:, None, None])
        parts.append(np.max(np.stack(dists), axis=0))
    return np.min(np.stack(parts), axis=0)


def shape_sdf(shape: np.ndarray, u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) to shapes ``shape`` (m,) (indices into
    :data:`SHAPES`) of circumradius ``radius`` (m,), at local coordinates u, v (m, H, W)."""
    out = np.empty_like(u)
    for idx, name in enumerate(SHAPES):
        mask = shape == idx
        if not mask.any():
            continue
        uu, vv, rr = u[mask], v[mask], radius[mask]
        if name == "circle":
            out[mask] = np.sqrt(uu**2 + vv**2) - rr[:, None, None]
        elif name == "square":
            out[mask] = _polygon_sdf(uu, vv, 4, rr)
        elif name == "triangle":
            out[mask] = _polygon_sdf(uu, vv, 3, rr)
        elif name == "star":
            out[mask] = _star_sdf(uu, vv, rr)
    return out


def _circumradius(shape: np.ndarray, size: np.ndarray, side: int) -> np.ndarray:
    """Circumradius in pixels of shapes whose outer diameter is ``size`` x side."""
    return size * side / 2


def _coverage(
    shape: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    rotation: np.ndarray,
    blur: np.ndarray,
    side: int,
    morph_shape: np.ndarray | None = None,
    morph: np.ndarray | None = None,
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of single shapes, (m, side, side).

    With ``morph_shape`` / ``morph`` (m,), the outline's signed distance is blended with that
    of a second shape of the same circumradius: ``(1 - morph) sdf + morph sdf_2``.
    """
    grid = np.arange(side, dtype=np.float32) + 0.5
    x = grid[None, None, :] - cx[:, None, None]
    y = grid[None, :, None] - cy[:, None, None]
    c, s = np.cos(rotation)[:, None, None], np.sin(rotation)[:, None, None]
    u = c * x + s * y
    v = -s * x + c * y
    sdf = shape_sdf(shape, u, v, radius)
    if morph_shape is not None and morph is not None and (morph_shape >= 0).any():
        idx = np.flatnonzero(morph_shape >= 0)
        t = morph[idx].astype(np.float32)[:, None, None]
        other = shape_sdf(morph_shape[idx], u[idx], v[idx], radius[idx])
        sdf[idx] = (1.0 - t) * sdf[idx] + t * other
    return np.clip(0.5 - sdf / blur[:, None, None], 0.0, 1.0)


def _smudge_coverage(attrs: ShapeAttributes, idx: np.ndarray, side: int) -> np.ndarray:
    """Irregular soft blobs for images ``idx``, (m, side, side)."""
    out = np.empty((len(idx), side, side), dtype=np.float32)
    grid = np.arange(side, dtype=np.float32) + 0.5
    for j, i in enumerate(idx):
        r = np.random.default_rng(int(attrs.seed[i]))
        cx = side / 2 + attrs.dx[i] * side
        cy = side / 2 + attrs.dy[i] * side
        x = grid[None, :] - cx
        y = grid[:, None] - cy
        theta = np.arctan2(y, x)
        rad = np.sqrt(x**2 + y**2)
        base = attrs.size[i] * side / 2
        wobble = np.ones_like(theta)
        for k in range(2, 6):
            wobble += r.uniform(0.05, 0.22) * np.cos(k * theta + r.uniform(0, 2 * np.pi))
        stretch = 1.0 + 0.5 * r.random() * np.cos(2 * (theta - r.uniform(0, np.pi)))
        sdf = rad - base * wobble * stretch * 0.8
        alpha = r.uniform(0.55, 0.9)
        out[j] = alpha * np.clip(0.5 - sdf / attrs.blur[i], 0.0, 1.0)
    return out


def _extra_shapes(attrs: ShapeAttributes, idx: np.ndarray, side: int) -> np.ndarray:
    """Coverage of the 2nd..count-th shapes of images ``idx`` (placed apart), (m, side, side)."""
    out = np.zeros((len(idx), side, side), dtype=np.float32)
    for j, i in enumerate(idx):
        r = np.random.default_rng(int(attrs.seed[i]))
        k = int(attrs.count[i]) - 1
        size = r.uniform(SIZES["small"][0], SIZES["medium"][0], size=k)
        # Spread the extra shapes around the frame, away from the main one.
        base_angle = np.arctan2(attrs.dy[i], attrs.dx[i]) + np.pi
        angles = base_angle + (np.arange(k) - (k - 1) / 2) * (2 * np.pi / (k + 1)) + r.uniform(-0.3, 0.3, size=k)
        dist = 0.30 * side
        cx = side / 2 + np.cos(angles) * dist
        cy = side / 2 + np.sin(angles) * dist
        cov = _coverage(
            r.integers(len(SHAPES), size=k),
            cx.astype(np.float32),
            cy.astype(np.float32),
            (size * side / 2 * 0.8).astype(np.float32),
            r.uniform(0, 2 * np.pi, size=k).astype(np.float32),
            np.full(k, attrs.blur[i], dtype=np.float32),
            side,
        )
        out[j] = cov.max(axis=0)
    return out


def render(attributes: ShapeAttributes, *, size: int = IMAGE_SIZE, chunk: int = 256) -> np.ndarray:
    """Renders attributes to images.

    Args:
        attributes: Attributes of n images.
        size: Image side in pixels (shapes scale with it).
        chunk: Images rendered per vectorised block (bounds memory).

    Returns:
        float32 array (n, size, size, 3) with values in [0, 1] (white background).

    Raises:
        InputError: ``size`` is smaller than 8.
    """
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise InputError("size", size, "an integer image side of at least 8 pixels")
    n = len(attributes)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    bg = np.asarray(BACKGROUND, dtype=np.float32)
    rgb = _hsv_to_rgb(attributes.hue, attributes.saturation, attributes.value).astype(np.float32)
    scale = size / IMAGE_SIZE
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        a = attributes[sl]
        cx = (size / 2 + a.dx * size).astype(np.float32)
        cy = (size / 2 + a.dy * size).astype(np.float32)
        radius = _circumradius(a.shape, a.size, size).astype(np.float32)
        cov = _coverage(
            a.shape, cx, cy, radius, a.rotation.astype(np.float32), (a.blur * scale).astype(np.float32), size,
            morph_shape=a.morph_shape, morph=a.morph,
        )
        if a.smudge.any():
            idx = np.flatnonzero(a.smudge)
            cov[idx] = _smudge_coverage(a, idx, size)
        several = np.flatnonzero(a.count > 1)
        if len(several):
            # The main shape shrinks towards its slot; extra shapes fill the rest.
            main = _coverage(
                a.shape[several],
                np.full(len(several), size / 2, np.float32) + (a.dx[several] * size).astype(np.float32) * 0.3,
                np.full(len(several), size / 2, np.float32) + (a.dy[several] * size).astype(np.float32) * 0.3,
                (radius[several] * 0.8).astype(np.float32),
                a.rotation[several].astype(np.float32),
                (a.blur[several] * scale).astype(np.float32),
                size,
            )
            cov[several] = np.maximum(main, _extra_shapes(a, several, size))
        colour = np.broadcast_to(rgb[sl][:, None, None, :], (len(a), size, size, 3))
        two = np.flatnonzero(~np.isnan(a.hue2))
        if len(two):  # the half on one side of a line through the centre takes the second hue
            colour = colour.copy()
            rgb2 = _hsv_to_rgb(a.hue2[two], a.saturation[two], a.value[two]).astype(np.float32)
            grid = np.arange(size, dtype=np.float32) + 0.5
            across = np.cos(a.rotation[two])[:, None, None] * (grid[None, None, :] - cx[two, None, None]) + np.sin(
                a.rotation[two]
            )[:, None, None] * (grid[None, :, None] - cy[two, None, None])
            colour[two] = np.where((across > 0)[..., None], rgb2[:, None, None, :], colour[two])
        cov = cov[..., None]
        images[sl] = cov * colour + (1.0 - cov) * bg
    return images


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] to uint8 (same shape)."""
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def describe_bias(spec: BiasSpec) -> Mapping[str, object]:
    """A JSON-serialisable description of a joint distribution."""
    return dataclasses.asdict(spec)
