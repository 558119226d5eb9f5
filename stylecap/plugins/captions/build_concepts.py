"""Builds the class map ``conditions/data/imagenet_concepts.tsv`` and ``data/synonyms.tsv``
from the 1000 ImageNet class names.

Run ``python -m stylecap.plugins.captions.build_concepts`` after editing the tables below; a test
checks the committed files equal what this writes, so the mapping stays reproducible. Three rules,
in order: a hand-checked override for that class name (``None`` drops the class: too rare, or a word
people use for something else), the animal ranges of the ImageNet class order (all 118 dog breeds
are "dog"), and the last word of the name ("sports car" -> "car").
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).with_name("data")
CLASS_MAP = Path(__file__).parents[1] / "conditions" / "data" / "imagenet_concepts.tsv"

# ImageNet orders its animals by WordNet hierarchy, so index ranges name them coarsely.
RANGES = [
    (0, 1, "fish"), (2, 4, "shark"), (5, 6, "fish"), (7, 7, "rooster"), (8, 8, "chicken"), (9, 9, "ostrich"),
    (10, 21, "bird"), (22, 22, "eagle"), (23, 23, "vulture"), (24, 24, "owl"), (25, 29, "salamander"),
    (30, 32, "frog"), (33, 37, "turtle"), (38, 48, "lizard"), (49, 49, "crocodile"), (50, 50, "alligator"),
    (51, 51, "dinosaur"), (52, 68, "snake"), (69, 69, "fossil"), (70, 77, "spider"), (71, 71, "scorpion"),
    (78, 79, "bug"), (80, 83, "bird"), (84, 84, "peacock"), (85, 86, "bird"), (87, 90, "parrot"),
    (91, 93, "bird"), (94, 94, "hummingbird"), (95, 95, "bird"), (96, 96, "toucan"), (97, 98, "duck"),
    (99, 99, "goose"), (100, 100, "swan"), (101, 101, "elephant"), (104, 104, "kangaroo"), (107, 107, "jellyfish"),
    (109, 109, "coral"), (110, 111, "worm"), (112, 112, "shell"), (113, 113, "snail"), (114, 115, "slug"),
    (116, 117, "shell"), (118, 121, "crab"), (122, 123, "lobster"), (124, 124, "crayfish"), (125, 125, "crab"),
    (126, 126, "bug"), (127, 128, "stork"), (129, 129, "bird"), (130, 130, "flamingo"), (131, 143, "bird"),
    (144, 144, "pelican"), (145, 145, "penguin"), (146, 146, "bird"), (147, 148, "whale"), (149, 149, "manatee"),
    (150, 150, "sea lion"), (151, 268, "dog"), (269, 271, "wolf"), (272, 272, "coyote"), (273, 275, "dog"),
    (276, 276, "hyena"), (277, 280, "fox"), (281, 285, "cat"), (287, 287, "lynx"), (288, 289, "leopard"),
    (294, 297, "bear"), (300, 307, "beetle"), (301, 301, "ladybug"), (308, 308, "bug"), (309, 309, "bee"),
    (310, 310, "ant"), (311, 311, "grasshopper"), (312, 318, "bug"), (314, 314, "cockroach"), (316, 316, "cicada"),
    (319, 320, "dragonfly"), (321, 326, "butterfly"), (328, 328, "sea urchin"), (330, 332, "rabbit"),
    (335, 335, "squirrel"), (336, 336, "groundhog"), (339, 339, "horse"), (341, 343, "pig"),
    (344, 344, "hippo"), (345, 345, "cow"), (346, 347, "buffalo"), (348, 349, "sheep"), (350, 350, "goat"),
    (351, 353, "antelope"), (354, 354, "camel"), (356, 358, "weasel"), (359, 359, "ferret"), (364, 364, "sloth"),
    (365, 365, "orangutan"), (367, 367, "chimp"), (368, 382, "monkey"), (383, 384, "lemur"), (385, 386, "elephant"),
    (387, 388, "panda"), (389, 389, "fish"), (391, 397, "fish"),
]  # fmt: skip

# Class name -> everyday word, or None to drop it. Hand-checked: only where the rules above are wrong.
OVERRIDES: dict[str, str | None] = {
    "abaya": "dress", "academic gown": "gown", "aircraft carrier": "ship", "airliner": "plane", "airship": "blimp",
    "amphibian": None, "analog clock": "clock", "apiary": "beehive", "ashcan": "trash can", "assault rifle": "gun",
    "Band Aid": "bandage", "bannister": "stairs", "barber chair": "barber", "barbershop": "barber",
    "barrow": "wheelbarrow", "bassinet": "crib", "bathing cap": None, "beach wagon": "car", "beacon": "lighthouse",
    "bearskin": "hat", "beer bottle": "beer", "beer glass": "beer", "bell cote": "church",
    "bicycle-built-for-two": "bike", "bolo tie": "necktie", "bonnet": "hat", "bookcase": "bookshelf",
    "bookshop": "bookstore", "bottlecap": "bottle", "bow": None, "bow tie": "necktie", "brass": None,
    "brassiere": "bra", "breakwater": "pier", "breastplate": "armor", "bulletproof vest": "vest",
    "bullet train": "train", "butcher shop": "butcher", "cab": "taxi", "caldron": "pot", "can opener": None,
    "cardigan": "sweater", "car mirror": "car", "car wheel": "car", "carpenter's kit": "tools", "carton": "box",
    "cash machine": "atm", "cassette": "cassette", "cassette player": "cassette", "CD player": "stereo",
    "cellular telephone": "phone", "chainlink fence": "fence", "chain mail": "armor", "chain saw": "chainsaw",
    "chest": None, "chiffonier": "dresser", "chime": None, "china cabinet": "cabinet", "Christmas stocking":
    "christmas", "cinema": "movie theater", "cleaver": "knife", "cliff dwelling": "ruins", "cloak": "cape",
    "clog": "shoes", "cocktail shaker": "cocktail", "coffee mug": "mug", "coffeepot": "coffee", "coil": None,
    "combination lock": "padlock", "computer keyboard": "keyboard", "confectionery": "candy",
    "container ship": "ship", "convertible": "car", "cornet": "trumpet", "cowboy boot": "boots",
    "cowboy hat": "hat", "cradle": "crib", "crash helmet": "helmet", "crate": "box", "Crock Pot": "crockpot",
    "croquet ball": "ball", "cuirass": "armor", "desktop computer": "computer", "dial telephone": "phone",
    "digital clock": "clock", "digital watch": "wristwatch", "dining table": "table", "dishrag": None,
    "disk brake": None, "dogsled": "sled", "doormat": "doormat", "drilling platform": "oil rig",
    "drumstick": "drums", "drum": "drums", "dumbbell": "weights", "barbell": "weights", "Dutch oven": "pot",
    "electric fan": None, "electric guitar": "guitar", "electric locomotive": "train", "entertainment center": "tv",
    "face powder": "makeup", "feather boa": "scarf", "file": "cabinet", "fireboat": "boat",
    "fire engine": "fire truck", "fire screen": "fireplace", "flagpole": "flag", "folding chair": "chair",
    "football helmet": "football", "fountain pen": "pen", "four-poster": "bed", "freight car": "train",
    "French horn": "horn", "frying pan": "pan", "fur coat": "coat", "garbage truck": "truck", "gasmask": "mask",
    "gas pump": "gas station", "goblet": "glass", "go-kart": "go kart", "golf ball": "golf", "golfcart": "golf",
    "gown": "dress", "grand piano": "piano", "grille": "car", "grocery store": "grocery store", "guillotine": None,
    "hair slide": None, "hair spray": "hairspray", "half track": "truck", "hamper": "basket",
    "hand blower": "hair dryer", "hand-held computer": None, "hard disc": "computer", "harvester": "tractor",
    "hatchet": "axe", "holster": "gun", "home theater": "tv", "honeycomb": "honey", "hoopskirt": "dress",
    "horizontal bar": "gym", "horse cart": "horse", "iPod": "ipod", "iron": None, "jack-o'-lantern": "pumpkin",
    "jean": "jeans", "jersey": "shirt", "jigsaw puzzle": "puzzle", "jinrikisha": "rickshaw", "knee pad": None,
    "knot": "rope", "lab coat": "coat", "ladle": "spoon", "lampshade": "lamp", "lawn mower": "lawn mower",
    "lens cap": "camera", "letter opener": "knife", "lifeboat": "boat", "limousine": "limo", "liner": "ship",
    "Loafer": "shoes", "loudspeaker": "speaker", "loupe": None, "lumbermill": None, "magnetic compass": "compass",
    "mailbag": "bag", "maillot": "swimsuit", "maillot tank suit": "swimsuit", "manhole cover": None,
    "maraca": "maracas", "marimba": "xylophone", "matchstick": "matches", "measuring cup": "cup",
    "medicine chest": "cabinet", "megalith": "rocks", "military uniform": "uniform", "milk can": "milk",
    "minibus": "bus", "miniskirt": "skirt", "minivan": "van", "missile": "rocket", "mitten": "mittens",
    "mixing bowl": "bowl", "mobile home": "trailer", "Model T": "car", "monitor": "screen", "moped": "motorcycle",
    "mortar": None, "mortarboard": "graduation", "mosquito net": None, "motor scooter": "motorcycle",
    "mountain bike": "bike", "mountain tent": "tent", "mousetrap": "mousetrap", "moving van": "truck",
    "muzzle": None, "neck brace": None, "nipple": None, "notebook": "laptop", "obelisk": "monument",
    "odometer": "dashboard", "oil filter": "car", "oscilloscope": None, "overskirt": "dress", "oxcart": "cart",
    "oxygen mask": "mask", "packet": None, "paddlewheel": "boat", "paintbrush": "paintbrush", "pajama": "pajamas",
    "panpipe": "flute", "paper towel": "paper towel", "parallel bars": "gym", "park bench": "bench",
    "parking meter": "parking meter", "passenger car": "train", "pay-phone": "phone", "pedestal": None,
    "pencil box": "pencil", "pencil sharpener": "pencil", "Petri dish": None, "photocopier": "printer",
    "pick": "guitar", "pickelhaube": "helmet", "picket fence": "fence", "pickup": "truck", "piggy bank": "piggy bank",
    "pill bottle": "pills", "ping-pong ball": "ping pong", "pirate": "ship", "pitcher": "jug", "plane": "tools",
    "plastic bag": "bag", "plate rack": "dishes", "plow": "tractor", "Polaroid camera": "camera", "pole": None,
    "police van": "police", "pool table": "pool table", "pop bottle": "soda", "pot": "plant",
    "potter's wheel": "pottery", "power drill": "drill", "prayer rug": "rug", "projectile": "rocket",
    "puck": "hockey", "punching bag": "boxing", "quill": "pen", "quilt": "blanket", "racer": "car",
    "racket": "tennis", "radio telescope": "telescope", "rain barrel": "barrel", "recreational vehicle": "rv",
    "reel": "fishing", "reflex camera": "camera", "refrigerator": "fridge", "remote control": "remote",
    "revolver": "gun", "rifle": "gun", "rocking chair": "chair", "rotisserie": "grill", "rubber eraser": "eraser",
    "rugby ball": "rugby", "rule": "ruler", "running shoe": "shoes", "safe": None, "safety pin": None,
    "saltshaker": "salt", "sandal": "sandals", "sarong": "skirt", "sax": "saxophone", "scabbard": "sword",
    "scale": None, "school bus": "bus", "schooner": "sailboat", "screw": None, "seat belt": "car",
    "sewing machine": "sewing machine", "shoe shop": "shoes", "shoji": None, "shopping basket": "basket",
    "shopping cart": "cart", "shower cap": "shower", "shower curtain": "shower", "ski mask": "mask",
    "sleeping bag": "sleeping bag", "slide rule": None, "sliding door": "door", "slot": "casino",
    "snowplow": "snow", "soap dispenser": "soap", "soccer ball": "soccer", "sock": "socks", "solar dish": None,
    "sombrero": "hat", "soup bowl": "soup", "space bar": "keyboard", "space heater": "heater",
    "space shuttle": "rocket", "speedboat": "boat", "spider web": "spider web", "spindle": None,
    "sports car": "car", "spotlight": "spotlight", "stage": None, "steam locomotive": "train",
    "steel arch bridge": "bridge", "steel drum": "drums", "stole": "scarf", "stone wall": "wall",
    "stopwatch": "wristwatch", "strainer": None, "streetcar": "tram", "stretcher": None, "studio couch": "couch",
    "stupa": "temple", "sunglass": "sunglasses", "suspension bridge": "bridge", "swab": "mop",
    "swimming trunks": "swimsuit", "switch": None, "syringe": "needle", "table lamp": "lamp", "tape player":
    "cassette", "teapot": "tea", "teddy": "teddy bear", "television": "tv", "tennis ball": "tennis",
    "thatch": "roof", "theater curtain": "theater", "thimble": "sewing machine", "thresher": "tractor",
    "tile roof": "roof", "tobacco shop": None, "toilet seat": "toilet", "totem pole": "totem pole",
    "tow truck": "truck", "toyshop": "toys", "trailer truck": "truck", "trench coat": "coat", "trimaran": "boat",
    "tripod": "camera", "triumphal arch": "arch", "trolleybus": "bus", "tub": "bathtub", "turnstile": None,
    "typewriter keyboard": "typewriter", "upright": "piano", "vault": None, "velvet": None, "vestment": "robe",
    "viaduct": "bridge", "waffle iron": "waffles", "wall clock": "clock", "wardrobe": "closet",
    "warplane": "plane", "washbasin": "sink", "washer": "laundry", "water bottle": "bottle", "water jug": "jug",
    "water tower": "tower", "whiskey jug": "whiskey", "window screen": "window", "window shade": "window",
    "Windsor tie": "necktie", "wine bottle": "wine", "wing": "plane", "wooden spoon": "spoon", "wool": "yarn",
    "worm fence": "fence", "wreck": "shipwreck", "yawl": "sailboat", "yurt": "tent", "web site": "website",
    "comic book": "comic", "crossword puzzle": "crossword", "street sign": "street sign",
    "traffic light": "traffic light", "book jacket": "book", "consomme": "soup", "hot pot": "soup",
    "trifle": "dessert", "ice cream": "ice cream", "ice lolly": "popsicle", "French loaf": "bread",
    "cheeseburger": "burger", "hotdog": "hot dog", "mashed potato": "potatoes", "head cabbage": "cabbage",
    "spaghetti squash": "squash", "acorn squash": "squash", "butternut squash": "squash", "bell pepper": "pepper",
    "cardoon": None, "Granny Smith": "apple", "jackfruit": "fruit", "custard apple": "fruit", "carbonara": "pasta",
    "chocolate sauce": "chocolate", "meat loaf": "meatloaf", "potpie": "pie", "red wine": "wine",
    "espresso": "coffee", "espresso maker": "coffee", "alp": "mountains", "bubble": "bubbles",
    "coral reef": "reef", "lakeside": "lake", "promontory": "cliff", "sandbar": "beach", "seashore": "beach",
    "ballplayer": "baseball", "groom": "wedding", "scuba diver": "scuba", "rapeseed": "flowers", "daisy": "flowers",
    "yellow lady's slipper": "flowers", "hip": "berries", "buckeye": None, "coral fungus": "mushroom",
    "agaric": "mushroom", "gyromitra": "mushroom", "stinkhorn": "mushroom", "earthstar": "mushroom",
    "hen-of-the-woods": "mushroom", "bolete": "mushroom", "ear": "corn", "toilet tissue": "toilet paper",
    "echidna": None, "sea anemone": None, "sea cucumber": None, "trilobite": "fossil", "Madagascar cat": "lemur",
    "three-toed sloth": "sloth", "hippopotamus": "hippo", "chimpanzee": "chimp", "ice bear": "bear",
    "tiger cat": "cat", "fly": "bug", "cricket": "bug", "walking stick": "bug", "mantis": "bug", "lycaenid":
    "butterfly", "sorrel": "horse", "Arabian camel": "camel", "crane": "crane", "mouse": "mouse",
    "pinwheel": "pinwheel", "bath towel": "towel", "vending machine": "vending machine", "mailbox": "mailbox",
    "lipstick": "lipstick", "sunscreen": "sunscreen", "lotion": "lotion", "perfume": "perfume",
    "diaper": "diaper", "envelope": "envelope", "screen": "screen", "menu": "menu", "plate": "plate",
    "guinea pig": "guinea pig", "balance beam": "gym",
    "ballpoint": "pen",
}  # fmt: skip

# Everyday words (comma-separated) that also name a concept; plurals are added by rule (see ``plural``).
SYNONYMS = {
    "cat": "kitty, kitties, kitten, kittens, kitteh", "dog": "puppy, puppies, pup, pups, doggy, doggo, doggie",
    "coffee": "espresso, latte, cappuccino", "bike": "bicycle, bicycles", "tv": "television, telly",
    "fridge": "refrigerator", "phone": "cellphone, telephone, smartphone, iphone",
    "plane": "airplane, airplanes, jet",
    "rocket": "spaceship, spacecraft", "mountains": "mountain, alps", "flowers": "flower, daisy, daisies",
    "beach": "seaside, seashore", "burger": "hamburger, hamburgers, cheeseburger", "rabbit": "bunny, bunnies",
    "horse": "pony, ponies",
    "motorcycle": "motorbike, motorbikes, scooter, scooters, moped",
    "pig": "piggy, hog", "cow": "cattle", "chicken": "hen, hens", "bird": "birdie",
    "car": "automobile", "gun": "rifle, pistol", "hippo": "hippopotamus", "ipod": "mp3", "laptop": "notebook",
    "shoes": "shoe, sneakers", "sweater": "jumper, cardigan", "boat": "yacht",
    "soda": "pop, coke", "hot dog": "hotdog, hotdogs", "ice cream": "gelato", "wine": "merlot",
    "teddy bear": "teddy", "mushroom": "shrooms", "pasta": "spaghetti, noodles",
    "chimp": "chimpanzee", "weights": "dumbbell, dumbbells, barbell", "whale": "orca", "crockpot": "slow cooker",
    "ping pong": "table tennis", "lemur": "lemurs", "monkey": "ape, apes",
    "tree": "trees", "fish": "goldfish", "scuba": "diving", "baseball": "ballplayer",
}  # fmt: skip

DETECTED = {
    "person": "woman, girl, boy, lady, someone", "people": "friends, folks, family", "crowd": "",
    "face": "", "field": "meadow, meadows, grass", "forest": "woods", "garden": "", "room": "", "sky": "skies",
    "street": "road, roads", "water": "sea, ocean",
}  # fmt: skip
"""Concepts that no ImageNet class names but the condition encoders detect (``people``, ``scenes``), with
their everyday words: a caption model can then talk about a person on a beach."""

IRREGULAR = {"mouse": "mice", "goose": "geese", "knife": "knives", "fish": "fish", "sheep": "sheep", "sloth": "sloths"}
NO_PLURAL = ("s", "ing")  # "jeans", "boxing": already plural or not countable


def plural(word: str) -> str | None:
    """The usual English plural of a concept's last word, or None when it has none."""
    head, _, last = word.rpartition(" ")
    if last in IRREGULAR:
        form = IRREGULAR[last]
    elif last.endswith(NO_PLURAL):
        return None
    elif last.endswith(("x", "ch", "sh")):
        form = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        form = last[:-1] + "ies"
    else:
        form = last + "s"
    return f"{head} {form}".strip() if form != last else None


def concept_for(index: int, name: str) -> tuple[str | None, str]:
    """The concept of one class and the rule that gave it (``override``, ``range``, ``last-word``)."""
    if name in OVERRIDES:
        return OVERRIDES[name], "override"
    for first, last, concept in RANGES[::-1]:  # later (narrower) ranges win over the broad ones
        if first <= index <= last:
            return concept, "range"
    return name.lower().replace("-", " ").split()[-1], "last-word"


def build() -> tuple[str, str]:
    """The text of the two data files."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names

    rows = ["index\tclass\tconcept\trule"]
    concepts = set()
    for index, name in enumerate(names):
        concept, rule = concept_for(index, name)
        rows.append(f"{index}\t{name}\t{concept or ''}\t{rule if concept else 'dropped'}")
        if concept:
            concepts.add(concept)
    syn_rows = ["concept\tsynonyms"]
    for concept in sorted(concepts | set(DETECTED)):
        said = f"{SYNONYMS.get(concept, '')},{DETECTED.get(concept, '')}"
        words = [plural(concept), *(w.strip() for w in said.split(","))]
        words = sorted({w for w in words if w and w != concept})
        syn_rows.append(f"{concept}\t{','.join(words)}")
    return "\n".join(rows) + "\n", "\n".join(syn_rows) + "\n"


def main() -> None:
    classes, synonyms = build()
    CLASS_MAP.write_text(classes)
    (DATA / "synonyms.tsv").write_text(synonyms)
    used = [line.split("\t")[2] for line in classes.splitlines()[1:]]
    print(f"{sum(bool(c) for c in used)} of {len(used)} classes -> {len(set(filter(None, used)))} concepts")


if __name__ == "__main__":
    main()
