"""Latent diffusion side of the benchmark: a LightningDiT-style DiT trained with rectified flow on autoencoder latents.

Modules: `dit` (model, size registry `DIT_MODELS`, `build_dit`), `rope` (2-D rotary embedding), `objective`
(rectified-flow loss and Euler sampler with time shift and guidance), `sharding` (world-size-independent sample
indices and seeds). Paper: "Latent Diffusion Models with Masked AutoEncoders" (ICCV 2025).
"""
