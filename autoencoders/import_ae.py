"""The `import_ae@NAME` stage: check pretrained item NAME (`autoencoders.pretrained.NAME`) and record it.

Run: `python -m autoencoders.import_ae NAME` (DVC fans it out over `autoencoders.pretrained`, with the item's `path`
as a dependency: replacing the files re-runs this stage, and, because the record holds their hashes, the item's
chain: eval_ae, compress, extract, train_dit, sample, eval_gen; nothing of any other item). Pretrained items skip
train_ae. Nothing is trained or downloaded: the model is built from the files, loaded strictly and run on one zero
image (`autoencoders.sources.import_pretrained`), so every bad input stops here, in seconds, before any work, with a
message naming the item, the file and the fix, and nothing written.

Writes `<runs>/autoencoders/NAME/`: `source.json` (format, path, sha256 of every file, latent channels,
downsampling factor, latent grid at `data.resolution`, native input range, parameters, and the config's latent
scaling / shift factors, recorded but not applied) and `params.json`; `meta.json` to
`<runs>/records/autoencoders/NAME/`.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

from autoencoders.sources import import_pretrained, record
from bench import layout
from bench.config import Params, load_params
from bench.items import check_pretrained_item
from bench.log import get_logger, setup_logging
from bench.outputs import StageRecord, write_json

log = get_logger(__name__)


def main(params: Params, name: str) -> None:
    check_pretrained_item(params, name)
    setup_logging()
    stage = StageRecord()
    cfg, res = params.autoencoders.pretrained[name], params.data.resolution
    imported = import_pretrained(name, cfg, res)
    source = record(name, cfg, imported)
    write_json(layout.pretrained_record(params.paths, name), source)
    log.info(
        "%s (%s, %s): %d latent channels, f%d, %s grid at %d px, %.2f M parameters, sha256 %s",
        name,
        cfg.format,
        cfg.path,
        source["latent_channels"],
        source["downsample"],
        "x".join(map(str, source["latent_grid"])),
        res,
        source["parameters"] / 1e6,
        source["sha256"][:12],
    )
    stage.write(
        layout.autoencoder_dir(params.paths, name),
        layout.autoencoder_record_dir(params.paths, name),
        {"data": {"resolution": res}, "autoencoders": params.autoencoders.item_params(name)},
        item=name,
        kind="pretrained",
        versions={"diffusers": version("diffusers"), "timm": version("timm")},
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.import_ae NAME   (a key of autoencoders.pretrained)")
    main(load_params(), sys.argv[1])
