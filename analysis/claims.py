"""The paper's qualitative claims around Tables 1-4 and Figs 6-7, as data.

Imported by `analysis.paper_check` (which reads the numbers, runs the claims and writes the report). A claim is the
paper's sentence, what is checked, and a check built from the factories of `analysis.comparisons` (whose docstring
gives the verdict rules), so nothing is decided in prose. Table 2's ratios depend on this preset's architectures,
which the CPU default shrinks (conv and ViT by different factors).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from analysis import paper
from analysis.comparisons import (
    Check,
    all_of,
    beats,
    closest_to_ideal,
    curve_beats,
    growth_beats,
    lowest,
    monotone,
    rank,
    ratio_near,
    rho_above,
    step,
    vae_gap,
    versus_raw,
)

RHO_DESIRED = 1.0  # Sec. 5.1: "it is desired to maintain semantically distinguishable features; that is, rho > 1"
MAIN, PROB, DET, ABL = paper.MAIN, paper.PROBABILISTIC, paper.DETERMINISTIC, paper.ABLATION
PIXEL, PERCEPTUAL = ("l1", "mse", "psnr", "ssim"), ("perceptual", "rfd")
GEN_IN = ("fd", "sfd", "is", "precision", "recall")  # Table 3's ImageNet-1K columns
IN, CELEBA, BOTH = ("imagenet",), ("celebahq",), ("imagenet", "celebahq")  # the paper datasets a claim is about


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # the table or figure it is about
    quote: str  # the paper's sentence
    statement: str  # what is checked, in this suite's terms
    check: Check


Q_T1 = (
    "Tab. 1 indicates that AE and DAE excel in pixel-level reconstruction (L1, MSE, PSNR, SSIM), while they "
    "exhibit weaker perceptual reconstruction (LPIPS, rFID)."
)
Q_T1_ROW = "Table 1, row 'VMAE (Ours) 0.0221 0.0014 31.52 0.890 0.062 0.89' (LPIPS, rFID bold; the rest underlined)."
Q_T2 = "Our VMAE demonstrates significantly faster training and inference, with considerably smaller model size."
Q_T2_RATIO = (
    "Additionally, VMAE significantly improves computational efficiency, using only 13.4% of the parameters and 4.1% "
    "of the GFLOPs of SD-VAE."
)
Q_T4 = (
    "[+L_M] ... thereby improving perceptual reconstruction. [+L_reg] ... confers a substantial gain in perceptual "
    "reconstruction quality ... [+L_P] ... significantly improving rFID and LPIPS"
)
Q_F7 = (
    "As shown in Fig. 7, DAE and VAE exhibit larger σ^2 than the raw image, indicating that they are unable to "
    "perform compression—a fundamental requirement for perceptual compression, while AE, SD-VAE, and our VMAE "
    "successfully achieve it."
)


def table1_claims() -> tuple[Claim, ...]:
    C = partial(Claim, source="Table 1")
    return (
        C(
            id="t1-ae-pixel-best",
            quote=Q_T1,
            statement="AE is best of the five on L1, MSE, PSNR and SSIM (ImageNet analogue).",
            check=rank(kind="recon", families=PIXEL, item="ae", among=MAIN, where=IN, place="best"),
        ),
        C(
            id="t1-det-perceptual-weaker",
            quote=Q_T1,
            statement="AE and DAE are worse than SD-VAE and VMAE on perceptual and rFD.",
            check=beats(kind="recon", families=PERCEPTUAL, winners=("sd-vae", "vmae"), losers=DET, where=IN),
        ),
        C(
            id="t1-vae-worst",
            quote="VAE performs poorly across all reconstruction metrics, making it unsuitable for LDMs.",
            statement="VAE is worst of the five on all six reconstruction metrics.",
            check=rank(kind="recon", families=PIXEL + PERCEPTUAL, item="vae", among=MAIN, where=IN, place="worst"),
        ),
        C(
            id="t1-sdvae-perceptual",
            quote="In contrast, SD-VAE achieves strong perceptual reconstruction while maintaining comparable pixel "
            "fidelity, owing to the additional reconstruction loss, i.e., adversarial loss, which alleviates the "
            "strong influence of latent regularization.",
            statement="SD-VAE is better than AE, DAE and VAE on perceptual and rFD ('comparable pixel fidelity' is "
            "not an ordering).",
            check=beats(kind="recon", families=PERCEPTUAL, winners=("sd-vae",), losers=("ae", "dae", "vae"), where=IN),
        ),
        C(
            id="t1-sdvae-pixel-weaker",
            quote="Our empirical analysis reveals that SD-VAEs achieve high reconstruction quality at perceptual "
            "level, while their pixel-level reconstruction quality is notably weaker.",
            statement="SD-VAE has lower PSNR and SSIM (the paper's pixel level) than AE, DAE and VMAE.",
            check=beats(
                kind="recon", families=("psnr", "ssim"), winners=("ae", "dae", "vmae"), losers=("sd-vae",), where=IN
            ),
        ),
        C(
            id="t1-vmae-beats-sdvae",
            quote="Our VMAE surpasses SD-VAE in both perceptual detail recovery and pixel-level accuracy, benefiting "
            "from its hierarchically structured latent features, i.e., diversified representations that facilitate "
            "more precise decoding.",
            statement="VMAE is better than SD-VAE on all six metrics.",
            check=beats(kind="recon", families=PIXEL + PERCEPTUAL, winners=("vmae",), losers=("sd-vae",), where=IN),
        ),
        C(
            id="t1-vmae-best-perceptual",
            quote=Q_T1_ROW,
            statement="VMAE is best of the five on perceptual and rFD.",
            check=rank(kind="recon", families=PERCEPTUAL, item="vmae", among=MAIN, where=IN, place="best"),
        ),
        C(
            id="t1-vmae-second-pixel",
            quote=Q_T1_ROW,
            statement="VMAE is second best of the five on L1, MSE, PSNR and SSIM.",
            check=rank(kind="recon", families=PIXEL, item="vmae", among=MAIN, where=IN, place="second"),
        ),
    )


def table2_claims(ratio_tolerance: float) -> tuple[Claim, ...]:
    tol = f"±{ratio_tolerance:.0%}"
    C = partial(Claim, source="Table 2")
    return (
        C(
            id="t2-smaller",
            quote=Q_T2,
            statement="VMAE is smaller than SD-VAE in size and GFLOPs at 256 px.",
            check=beats(kind="eff", families=("size", "gflops"), winners=("vmae",), losers=("sd-vae",), where=(None,)),
        ),
        C(
            id="t2-faster",
            quote=Q_T2,
            statement="VMAE trains in less time (steps x median step) and encodes and decodes more images/s than "
            "SD-VAE.",
            check=beats(
                kind="eff",
                families=("train_time", "encode", "decode"),
                winners=("vmae",),
                losers=("sd-vae",),
                where=(None,),
            ),
        ),
        C(
            id="t2-size-ratio",
            quote=Q_T2_RATIO,
            statement=f"size(VMAE) / size(SD-VAE) within {tol} of 13.4%.",
            check=ratio_near(family="size", key="size_mb", tolerance=ratio_tolerance),
        ),
        C(
            id="t2-gflops-ratio",
            quote=Q_T2_RATIO,
            statement=f"GFLOPs(VMAE) / GFLOPs(SD-VAE) within {tol} of 4.1%.",
            check=ratio_near(family="gflops", key="gflops", tolerance=ratio_tolerance),
        ),
        C(
            id="t2-train-ratio",
            quote="It also converges 2.7 times faster with greater training stability. [Table 2: training time 24 h "
            "vs 9 h (37.5%)]",
            statement=f"training time (steps x median step) VMAE / SD-VAE within {tol} of 37.5% (same step budget "
            "for all here: per-step cost, not convergence).",
            check=ratio_near(family="train_time", key="train_hours", tolerance=ratio_tolerance),
        ),
    )


def table3_claims() -> tuple[Claim, ...]:
    C = partial(Claim, source="Table 3")
    return (
        C(
            id="t3-vmae-best",
            quote="VMAE further improves each property and consistently achieves the best scores across all metrics.",
            statement="VMAE is best on gFD, sFD, IS, precision, recall (ImageNet analogue) and gFD, sFD (CelebA-HQ "
            "analogue).",
            check=all_of(
                rank(kind="gen", families=GEN_IN, item="vmae", among=MAIN, where=IN, place="best"),
                rank(kind="gen", families=("fd", "sfd"), item="vmae", among=MAIN, where=CELEBA, place="best"),
            ),
        ),
        C(
            id="t3-sdvae-second",
            quote="SD-VAE balances all three properties well, achieving solid performance on both datasets. [Table 3: "
            "SD-VAE underlined (second best) in every column]",
            statement="SD-VAE is second best on every Table 3 column.",
            check=all_of(
                rank(kind="gen", families=GEN_IN, item="sd-vae", among=MAIN, where=IN, place="second"),
                rank(kind="gen", families=("fd", "sfd"), item="sd-vae", among=MAIN, where=CELEBA, place="second"),
            ),
        ),
        C(
            id="t3-vae-worst",
            quote="VAE achieves the smoothest latent space, but its poor reconstruction quality results in the worst "
            "generation scores on both datasets.",
            statement="VAE has the worst gFD and sFD on both datasets.",
            check=rank(kind="gen", families=("fd", "sfd"), item="vae", among=MAIN, where=BOTH, place="worst"),
        ),
        C(
            id="t3-det-weaker",
            quote="AE and DAE, which lack smooth latent spaces, show weaker generation performance than probabilistic "
            "models like SD-VAE and VMAE, which benefit from smoother latent representations.",
            statement="AE and DAE have higher gFD and sFD than SD-VAE and VMAE on both datasets.",
            check=beats(kind="gen", families=("fd", "sfd"), winners=("sd-vae", "vmae"), losers=DET, where=BOTH),
        ),
        C(
            id="t3-dae-beats-ae",
            quote="Among deterministic models, DAE performs slightly better than AE, indicating that DAE's latent "
            "space is actually more robust [44].",
            statement="DAE has lower gFD and sFD than AE on both datasets.",
            check=beats(kind="gen", families=("fd", "sfd"), winners=("dae",), losers=("ae",), where=BOTH),
        ),
        C(
            id="t3-vae-gap",
            quote="Notably, the gap between VAE and deterministic models (AE, DAE) is much smaller on CelebA-HQ than "
            "on ImageNet-1K.",
            statement="gFD(VAE) / mean gFD(AE, DAE) is smaller on the CelebA-HQ analogue than on the ImageNet-1K "
            "analogue ('much' is not quantified).",
            check=vae_gap,
        ),
    )


def table4_claims() -> tuple[Claim, ...]:
    C = partial(Claim, source="Table 4")
    return (
        C(
            id="t4-baseline",
            quote="Consequently, it excels in PSNR and SSIM but underperforms in perceptual metrics (rFID, LPIPS).",
            statement="The MSE baseline (the conv AE, as in the paper) has the best PSNR of the four rows, a higher "
            "SSIM than the rows with L_reg and L_P (in the paper's own table +L_M's SSIM is higher), and the worst rFD "
            "and perceptual.",
            check=all_of(
                rank(kind="recon", families=("psnr",), item="ae", among=ABL, where=IN, place="best"),
                beats(kind="recon", families=("ssim",), winners=("ae",), losers=ABL[2:], where=IN),
                rank(kind="recon", families=PERCEPTUAL, item="ae", among=ABL, where=IN, place="worst"),
            ),
        ),
        C(
            id="t4-lm",
            quote="Although this results in some loss of pixel-level reconstruction quality, it yields a more aligned "
            "latent space, thereby improving perceptual reconstruction. As a result, the gFID also improves "
            "substantially, although latent smoothness remains inadequate.",
            statement="+L_M (conv AE -> masked ViT, as the paper's rows go): PSNR drops; rFD, perceptual and gFD "
            "improve.",
            check=step(
                before="ae",
                after="vmae-lm",
                better_on=[("recon", "rfd"), ("recon", "perceptual"), ("gen", "fd")],
                worse_on=[("recon", "psnr")],
            ),
        ),
        C(
            id="t4-reg",
            quote="Adding the latent regularizer L_reg loss leads to a slight drop in PSNR and SSIM but confers a "
            "substantial gain in perceptual reconstruction quality, which carries over to better generative "
            "performance.",
            statement="+L_reg: PSNR and SSIM drop; rFD, perceptual and gFD improve.",
            check=step(
                before="vmae-lm",
                after="vmae-lm-reg",
                better_on=[("recon", "rfd"), ("recon", "perceptual"), ("gen", "fd")],
                worse_on=[("recon", "psnr"), ("recon", "ssim")],
            ),
        ),
        C(
            id="t4-lp",
            quote="Finally, adding the perceptual loss L_P further enhances perceptual reconstruction quality, not "
            "only slightly recovering pixel-level reconstruction but also significantly improving rFID and LPIPS, "
            "with a modest improvement in gFID.",
            statement="+L_P: PSNR, SSIM, rFD, perceptual and gFD all improve.",
            check=step(
                before="vmae-lm-reg",
                after="vmae",
                better_on=[*(("recon", f) for f in ("psnr", "ssim", "rfd", "perceptual")), ("gen", "fd")],
                worse_on=[],
            ),
        ),
        C(
            id="t4-perceptual-monotone",
            quote=Q_T4,
            statement="rFD and perceptual improve at every added loss term.",
            check=all_of(*(monotone(kind="recon", family=f, items=ABL) for f in ("rfd", "perceptual"))),
        ),
        C(
            id="t4-gfd-monotone",
            quote="As a result, the gFID also improves substantially ... which carries over to better generative "
            "performance ... with a modest improvement in gFID.",
            statement="gFD improves at every added loss term.",
            check=monotone(kind="gen", family="fd", items=ABL),
        ),
    )


def figure6_claims() -> tuple[Claim, ...]:
    C = partial(Claim, source="Fig. 6")
    return (
        C(
            id="f6-prob-robust",
            quote="Probabilistic autoencoders (VAE, SD-VAE, VMAE) demonstrate greater robustness to latent "
            "perturbations, as their decoders can reconstruct from a smoother latent space compared to "
            "deterministic autoencoders (AE, DAE).",
            statement="rFD grows less from eps=0 to the largest eps for each of VAE, SD-VAE, VMAE than for each of "
            "AE, DAE.",
            check=growth_beats(winners=PROB, losers=DET),
        ),
        C(
            id="f6-vae-flattest",
            quote="Second, VAE shows minimal increase in rFID across perturbation ratios, indicating that its "
            "decodable space is most widely supported.",
            statement="VAE's rFD growth is the smallest of the five.",
            check=growth_beats(winners=("vae",), losers=("ae", "dae", "sd-vae", "vmae")),
        ),
        C(
            id="f6-vae-high",
            quote="Nevertheless, its high absolute rFID scores make it less suitable for LDMs.",
            statement="VAE's rFD is above SD-VAE's and VMAE's at every eps.",
            check=curve_beats(winners=("sd-vae", "vmae"), losers=("vae",)),
        ),
        C(
            id="f6-sdvae-vmae-best",
            quote="Lastly, SD-VAE and VMAE demonstrate combined strengths, achieving the best quality (in rFID) while "
            "more robust to noise compared to AE and DAE.",
            statement="At every eps SD-VAE and VMAE have the two lowest rFD, and their rFD grows less than AE's and "
            "DAE's.",
            check=all_of(
                curve_beats(winners=("sd-vae", "vmae"), losers=("ae", "dae", "vae")),
                growth_beats(winners=("sd-vae", "vmae"), losers=DET),
            ),
        ),
        C(
            id="f6-vmae-beats-sdvae",
            quote="Comparing the two, our VMAE consistently outperforms the strongest baseline, SD-VAE across all "
            "noise levels.",
            statement="VMAE's rFD is below SD-VAE's at every eps.",
            check=curve_beats(winners=("vmae",), losers=("sd-vae",)),
        ),
    )


def figure7_claims() -> tuple[Claim, ...]:
    C = partial(Claim, source="Fig. 7")
    return (
        C(
            id="f7-dae-vae-above-raw",
            quote=Q_F7,
            statement="sigma^2 of DAE and VAE is above the raw image's at every level.",
            check=versus_raw(items=("dae", "vae"), above=True),
        ),
        C(
            id="f7-compressors-below-raw",
            quote=Q_F7,
            statement="sigma^2 of AE, SD-VAE and VMAE is below the raw image's at every level.",
            check=versus_raw(items=("ae", "sd-vae", "vmae"), above=False),
        ),
        C(
            id="f7-sdvae-lowest-sigma",
            quote="Among these, SD-VAE shows the strongest compression, indicated by the lowest σ^2.",
            statement="SD-VAE has the lowest sigma^2 of AE, SD-VAE and VMAE at every level.",
            check=lowest(measure="sigma2", item="sd-vae", among=("ae", "sd-vae", "vmae")),
        ),
        C(
            id="f7-sdvae-lowest-rho",
            quote="However, its ρ is lowest among all methods, implying that its compression not just reduces "
            "perceptual details but also erases essential semantic information, resulting in excessive feature "
            "entanglement.",
            statement="SD-VAE has the lowest rho of the five at every level.",
            check=lowest(measure="rho", item="sd-vae", among=MAIN),
        ),
        C(
            id="f7-vmae-ideal",
            quote="Our VMAE is positioned closest to the ideal autoencoder, indicating the most effective perceptual "
            "compression.",
            statement="VMAE is nearest the (lowest sigma^2, highest rho) corner of the five, each axis min-max "
            "scaled over them, at every level.",
            check=closest_to_ideal(item="vmae", among=MAIN),
        ),
        C(
            id="f7-vmae-both",
            quote="Notably, VMAE most successfully balances and simultaneously satisfies the two criteria, i.e., "
            "strong compression capability and superior semantic disentanglement.",
            statement=f"VMAE's sigma^2 is below the raw image's and its rho above {RHO_DESIRED:g} at every level.",
            check=all_of(versus_raw(items=("vmae",), above=False), rho_above(item="vmae", threshold=RHO_DESIRED)),
        ),
    )


def claim_list(ratio_tolerance: float) -> tuple[Claim, ...]:
    """Every claim, in report order; Table 2's ratios hold within `ratio_tolerance` (relative) of the paper's
    (`params.analysis.paper_check.ratio_tolerance`)."""
    tables = (*table1_claims(), *table2_claims(ratio_tolerance), *table3_claims(), *table4_claims())
    return (*tables, *figure6_claims(), *figure7_claims())
