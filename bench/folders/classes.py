"""Label vocabularies of the real datasets' label maps: the name of every id a mask can hold.

`MASK_NAMES[kind][i]` names mask id i (id 0 is always "other" / "background"); kinds without label maps are
absent. The data stage writes these into each split's `meta.json`, where the analysis reads them.
"""

from __future__ import annotations

# ADE20K (SceneParsing / ADEChallengeData2016) ids 1..150 in objectInfo150 order, as listed by mmsegmentation:
# https://github.com/open-mmlab/mmsegmentation/blob/b05a26e2f3511fd976ad89585717881b91e0afad/mmseg/datasets/ade.py
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip
ADE20K_NUM_CLASSES = len(ADE20K_CLASSES)  # 150 semantic classes; mask id 0 is "other" (unlabelled), not a class

# CelebAMask-HQ part names in id order: CELEBAMASK_PARTS[i] has id i + 1; 0 is background. This is the dataset's
# own order (its README and g_mask.py), which is also the paint order where part masks overlap (see load_record).
CELEBAMASK_PARTS = (
    "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip

MASK_NAMES: dict[str, tuple[str, ...]] = {
    "ade20k": ("other", *ADE20K_CLASSES),
    "celebamaskhq": ("background", *CELEBAMASK_PARTS),
}
