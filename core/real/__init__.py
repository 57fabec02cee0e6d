"""Real models: an open_clip scorer (``openclip``) and a diffusers generator (``sd-turbo``).

Weights load from the local Hugging Face cache or a local path, never from the network;
when they are absent, loading raises :class:`~core.errors.WeightsNotFoundError` with what
to download and how. Heavy libraries are imported by the submodules only when a model is
loaded: ``core.real.hub`` (availability checks) stays light.

- ``core.real.openclip_scorer``: :class:`OpenClipScorer`, :func:`load_openclip_scorer`.
- ``core.real.diffusion_generator``: :class:`DiffusionGenerator`,
  :class:`NoiseParameterisation`, :func:`load_diffusion_generator`.
- ``core.real.hub``: cache lookups, availability functions, download hints.
- ``core.real.devices``: device and precision choice, out-of-memory back-off.
"""
