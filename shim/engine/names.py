"""Engine layer: container names, validated and generated as dockerd does (pkg/namesgenerator)."""

from __future__ import annotations

import random
import re

from shim.errors import InvalidParameter

# daemon/names: RestrictedNameChars plus "+": a name has at least two characters.
_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

LEFT = [
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
    "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
    "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
    "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
]
RIGHT = [
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "babbage", "banach",
    "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "black", "blackwell", "bohr", "booth", "borg",
    "bose", "boyd", "brahmagupta", "brattain", "brown", "cannon", "carson", "cartwright", "chandrasekhar",
    "chaplygin", "chatelet", "chebyshev", "cohen", "colden", "cori", "cray", "curie", "darwin", "davinci",
    "dhawan", "diffie", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein",
    "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gates",
    "goldberg", "goldstine", "goldwasser", "golick", "goodall", "hamilton", "hawking", "heisenberg",
    "hermann", "hodgkin", "hoover", "hopper", "hugle", "hypatia", "jackson", "jang", "jennings", "jepsen",
    "johnson", "jones", "kalam", "kapitsa", "kare", "keller", "kepler", "khorana", "kilby", "kirch", "knuth",
    "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lewin", "lichterman", "liskov",
    "lovelace", "lumiere", "mahavira", "mayer", "mccarthy", "mcclintock", "mclean", "meitner", "mendel",
    "merkle", "mestorf", "mirzakhani", "morse", "murdock", "napier", "nash", "neumann", "newton",
    "nightingale", "nobel", "noether", "northcutt", "noyce", "panini", "pare", "pasteur", "payne", "perlman",
    "pike", "poincare", "poitras", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "roentgen", "rosalind",
    "saha", "sammet", "shannon", "shaw", "shirley", "shockley", "shtern", "sinoussi", "snyder", "solomon",
    "spence", "stonebraker", "sutherland", "swanson", "swartz", "tesla", "thompson", "torvalds", "turing",
    "varahamihira", "villani", "visvesvaraya", "volhard", "wescoff", "wiles", "williams", "wilson", "wing",
    "wozniak", "wright", "yalow", "yonath",
]


def validate(name: str) -> str:
    """The name without its leading slash; 400 with dockerd's wording if it is not valid."""
    if not _VALID.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def generate(retry: int = 0) -> str:
    """GetRandomName: adjective_surname; after collisions a digit is appended."""
    name = f"{random.choice(LEFT)}_{random.choice(RIGHT)}"
    if name == "boring_wozniak":  # Steve Wozniak is not boring (moby's own rule)
        return generate(retry)
    if retry > 0:
        name += str(random.randint(0, 9))
    return name
