"""A deterministic long story for the benchmarks: a seeded generator of chapters (with `Chapter N: Title`
headings), scenes split by `***`, narrative paragraphs and quoted dialogue with said-tags, told about a
recurring cast in one river town. It reads as (plain) prose, so the rule-based planner splits it the way it
splits a real book: scenes at the breaks, shots at sentence groups, names found in the text.

    python benchmarks/storygen.py [--words 25000] [--seed 7] > story.txt
"""

from __future__ import annotations

import argparse
import random
import re

TITLE = "The Lanterns of Greywater"

# name, pronoun (subject, object, possessive), what they look like, what they do
CAST = [
    ("Mara", ("she", "her", "her"), "a tall woman with a grey scarf and ink on her fingers", "the harbour clerk"),
    ("Tobin", ("he", "him", "his"), "a broad-shouldered boy in a patched brown coat", "the miller's son"),
    ("Elspeth", ("she", "her", "her"), "an old woman with silver hair pinned under a green hat", "the lamplighter"),
    ("Corwin", ("he", "him", "his"), "a thin man with a black beard and a lantern on his belt", "the ferryman"),
    ("Wren", ("she", "her", "her"), "a small girl in a yellow raincoat with a satchel of maps", "the cartographer's apprentice"),
    ("Abel", ("he", "him", "his"), "a stooped baker whose apron was always white with flour", "the baker"),
    ("Ines", ("she", "her", "her"), "a young doctor with a leather bag and quick dark eyes", "the town doctor"),
    ("Hollis", ("he", "him", "his"), "a big quiet fisherman with a red knitted cap", "the fisherman"),
]

PLACES = [
    ("the harbour", ["fishing boats knocked against the pilings", "gulls argued over the nets", "the tide slapped the stone steps"],
     ["salt", "tar and wet rope"]),
    ("the old mill", ["the great wheel groaned in the race", "flour dust hung in the slanted light", "sacks were stacked to the rafters"],
     ["warm grain", "river water"]),
    ("the lighthouse", ["the lamp room glittered with brass", "the spiral stair rang under every step", "wind hummed through the gallery rail"],
     ["lamp oil", "cold iron"]),
    ("the market square", ["stalls leaned under striped awnings", "a fiddler played by the fountain", "carts rattled over the cobbles"],
     ["roasting chestnuts", "crushed apples"]),
    ("the bakery", ["loaves cooled on long wooden racks", "the oven door glowed orange", "a bell tinkled over the door"],
     ["fresh bread", "cinnamon"]),
    ("the ferry landing", ["the flat ferry creaked on its chain", "reeds whispered along the bank", "a heron stood perfectly still in the shallows"],
     ["mud", "river weed"]),
    ("the chapel on the hill", ["the bell rope hung beside the door", "candles guttered in the draught", "swallows nested under the eaves"],
     ["old wax", "damp stone"]),
    ("the marsh road", ["mist lay low over the water meadows", "the path was nothing but planks and puddles", "frogs fell silent as they passed"],
     ["peat", "rain"]),
]  # fmt: skip

OBJECTS = ["the brass key", "the missing ledger", "the cracked bell", "the old map", "the sealed letter", "the silver compass",
           "the last lantern", "the broken clock", "the painted oar", "the lost ring"]  # fmt: skip
TIMES = ["At dawn", "Early that morning", "By midday", "Late in the afternoon", "As the sun went down", "Long after dark",
         "Just before supper", "The next morning"]  # fmt: skip
WEATHER = ["a thin rain was falling", "the sky was clear and cold", "fog had rolled in from the sea", "the wind was rising",
           "a pale sun came and went behind the clouds", "the first snow of the year drifted down", "the air was heavy and still"]  # fmt: skip
FEELINGS = ["uneasy", "hopeful", "tired", "curious", "afraid", "stubborn", "relieved", "impatient"]
SAID = ["said", "asked", "whispered", "replied", "muttered", "called", "admitted", "answered"]
MANNER = [
    "quietly",
    "with a sigh",
    "at last",
    "without looking up",
    "with a small smile",
    "after a long pause",
    "in a low voice",
    "firmly",
    "softly",
]

NARRATIVE = [
    "{A} walked slowly along {place_short}, thinking about {obj}.",
    "{A} had not slept well, and {a_sub} felt {feeling} before the day had even begun.",
    "Nobody in Greywater could remember who had last seen {obj}, and that troubled {A} more than {a_sub} liked to admit.",
    "{A} stopped, listened, and then pushed the door open with {a_pos} shoulder.",
    "For a while neither of them spoke.",
    "Somewhere behind them, a dog barked twice and was quiet.",
    "{B} was waiting there already, {b_look}.",
    "{A} set {a_pos} bag down on the bench and rubbed {a_pos} cold hands together.",
    "The light was fading, and the first lamps were being lit along the water.",
    "{B} turned {obj} over in {b_pos} hands as if it might tell them something.",
    "It was the kind of day when the whole town seemed to be holding its breath.",
    "{A} counted the steps under {a_pos} breath, the way {a_sub} had done as a child.",
    "When {B} finally looked up, {b_pos} face was pale.",
    "They searched every shelf and every drawer, but found only dust and old receipts.",
    "{A} remembered what {C} had said the week before, and wished {a_sub} had listened.",
    "Outside, {detail}.",
    "The clock above the door struck the hour, and {A} realised how late it had become.",
    "{B} laughed, but it was not a happy sound.",
    "There was mud on the floor, fresh mud, and it had not come from their boots.",
    "{A} knelt and brushed the dirt away from a small carved mark on the boards.",
    "Everyone in town knew {C}, {c_role}, but few people knew where {c_sub} went at night.",
    "{B} shrugged, pulled {b_pos} coat tighter, and led the way.",
    "It smelled of {smell}, and for a moment {A} forgot why {a_sub} had come.",
    "A cart went by, its wheels hissing on the wet stones.",
    "{A} felt the weight of {obj} like a stone in {a_pos} pocket.",
    "The answer, {A} thought, had been in front of them all along.",
    "{C} appeared at the end of the lane and raised a hand in greeting.",
    "Rain ran in thin silver threads from the gutters.",
    "{B} had a way of standing very still when {b_sub} was worried, and {b_sub} was standing very still now.",
    "Down by the water, {detail}.",
    "{A} wrote three words in the margin of {a_pos} notebook and underlined them twice.",
    "The door had been locked from the inside.",
    "Years ago, before the flood, {place_short} had been the busiest corner of Greywater.",
    "{A} did not believe in ghosts, but {a_sub} believed in footprints, and there were footprints everywhere.",
    "{B} pointed at a scratch on the window frame, long and deliberate, as if someone had forced it with a knife.",
    "The two of them stood there, dripping, while {detail}.",
    "It was {C} who had first told them about {obj}, one winter evening by the stove.",
    "{A} took a deep breath and began again, more carefully this time.",
    "Far away, the ferry bell rang, thin and patient across the water.",
    "Nothing was where it should have been.",
    "{B} lit a match, and the little flame showed a row of old crates pushed against the wall.",
    "Every few minutes {A} glanced at the window, half expecting to see a face there.",
    "There were too many questions and not nearly enough answers.",
    "{A} and {B} had known each other since they were children, and they could argue without saying a word.",
    "In the end it was {B} who noticed the loose board.",
    "The wind dropped, and in the sudden quiet they heard someone on the stairs.",
]  # fmt: skip

OPENINGS = [
    "{time}, {weather}, and {A} went down to {place_short}.",
    "{time} the whole of Greywater seemed asleep, but {A} was already at {place_short}.",
    "It was {B} who found {obj}, or what was left of it, {time_lower} at {place_short}.",
    "{time} {A} found {B} at {place_short}, where {detail}.",
    "{time}, while {weather}, {A} set out for {place_short} with {obj} wrapped in a cloth.",
]
CLOSINGS = [
    "{C} was right about one thing, {A} decided: the river kept its secrets well.",
    "By the time they left {place_short}, {weather}, and neither of them felt any closer to the truth.",
    "{A} watched {B} go, then turned back toward home with a great deal to think about.",
    "That night {A} lay awake, listening to the river, and thinking about {obj}.",
    "It was not the answer they had hoped for, but it was a beginning.",
]

LINES = [
    "Do you really think {obj} is still in Greywater?",
    "I have been looking for {obj} since the spring.",
    "We should ask {C}. Nobody knows this town better.",
    "Keep your voice down. The walls here have ears.",
    "I saw a light at {place_short} last night, and nobody should have been there.",
    "You are soaked through. Come inside before you catch your death.",
    "If we do not find it before the festival, the lanterns will not be lit.",
    "I am not afraid, not really. I only wish I knew what we were looking for.",
    "That is the strangest thing I have heard all week.",
    "My grandmother used to tell a story about {obj}.",
    "Look at this. Somebody has been here before us.",
    "We cannot tell anyone yet, not even {C}.",
    "Then where did it go?",
    "I will meet you at {place_short} when the bell rings.",
    "You always say that, and you are always late.",
    "There is something you are not telling me.",
    "Who else knew about the cellar?",
    "Give me the lamp. I want to see for myself.",
    "It was here yesterday. I would swear to it.",
    "Have you eaten anything today?",
    "{C} will not like this, not one bit.",
    "Why would anyone hide it at {place_short}, of all places?",
    "Because nobody ever looks there.",
    "We go together, or we do not go at all.",
    "I think we are being followed.",
    "Listen. Can you hear the water?",
    "You were right, and I hate it when you are right.",
    "Tell me again what you saw, slowly this time.",
]
BEATS = [
    "{S} leaned closer.",
    "{S} frowned and looked out of the window.",
    "{S} folded {s_pos} arms.",
    "{S} tapped the table with one finger.",
    "{S} glanced back at the door.",
]
HEADINGS = [
    "The {Noun}",
    "{Name} at {Place}",
    "What the {Noun} Knew",
    "A Light at {Place}",
    "The Night of the {Noun}",
    "{Name} Keeps a Secret",
]
NOUNS = ["Ledger", "Bell", "Map", "Letter", "Compass", "Lantern", "Clock", "Oar", "Ring", "Key", "Tide", "Fog"]


def _title(s: str) -> str:
    return re.sub(r"\bthe\b", "the", s.title())


class _Teller:
    """Fills templates one scene at a time, never repeating a sentence or a line within a scene."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, templates: list[str]) -> str:
        fresh = [t for t in templates if t not in self.used] or templates
        choice = self.rng.choice(fresh)
        self.used.add(choice)
        return choice

    def slots(self, a, b, c, place, obj) -> dict[str, str]:
        return {
            "A": a[0], "a_sub": a[1][0], "a_pos": a[1][2],
            "B": b[0], "b_sub": b[1][0], "b_pos": b[1][2], "b_look": b[2],
            "C": c[0], "c_sub": c[1][0], "c_role": c[3],
            "place_short": place[0], "obj": obj, "time": (t := self.rng.choice(TIMES)), "time_lower": t[0].lower() + t[1:], "feeling": self.rng.choice(FEELINGS),
        }  # fmt: skip

    def sentence(self, templates: list[str], slots: dict[str, str]) -> str:
        place = next(p for p in PLACES if p[0] == slots["place_short"])
        rng = self.rng
        fill = {**slots, "detail": rng.choice(place[1]), "smell": rng.choice(place[2]), "weather": rng.choice(WEATHER)}
        text = self.pick(templates).format(**fill)
        return text[0].upper() + text[1:]

    def narrative(self, slots: dict[str, str], n: int) -> str:
        return " ".join(self.sentence(NARRATIVE, slots) for _ in range(n))

    def dialogue(self, speaker, listener, slots: dict[str, str]) -> str:
        rng = self.rng
        third = rng.choice([c for c in CAST if c[0] not in (speaker[0], listener[0])])
        line = self.pick(LINES).format(**{**slots, "C": third[0]})
        asks = line.endswith("?")
        said = rng.choice([s for s in SAID if (s == "asked") == asks or s in ("whispered", "called", "muttered")])
        tagged = line if asks or line.endswith("!") else line[:-1] + ","  # “We go,” she said.
        style = rng.randrange(4)
        first, _, rest = line.partition(". ")
        if style == 0:
            return f"“{tagged}” {said} {speaker[0]}."
        if style == 1:
            return f"“{tagged}” {speaker[0]} {said} {rng.choice(MANNER)}."
        if style == 2 or not rest:
            beat = rng.choice(BEATS).format(S=speaker[0], s_pos=speaker[1][2])
            return f"{beat} “{line}”"
        return f"“{first},” {speaker[0]} {said}. “{rest}”"

    def scene(self, a, b, c, place, obj, words: int) -> list[str]:
        rng, slots = self.rng, self.slots(a, b, c, place, obj)
        self.used.clear()
        paras = [self.sentence(OPENINGS, slots) + " " + self.narrative(slots, rng.randint(2, 3))]
        count = len(paras[0].split())
        while count < words:
            if rng.random() < 0.4:
                talkers = [a, b] if rng.random() < 0.8 else [a, c]
                new = [self.dialogue(talkers[i % 2], talkers[(i + 1) % 2], slots) for i in range(rng.randint(2, 4))]
            else:
                new = [self.narrative(slots, rng.randint(2, 5))]
            paras += new
            count += sum(len(p.split()) for p in new)
        paras.append(self.sentence(CLOSINGS, slots))
        return paras


def generate(words: int = 25_000, seed: int = 7) -> str:
    """A story of at least `words` words (whole paragraphs), the same text for the same arguments."""
    rng = random.Random(seed)
    teller = _Teller(rng)
    blocks, count, chapter = [TITLE], 0, 0
    while count < words:
        chapter += 1
        a, b, c = rng.sample(CAST, 3)
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
        heading = rng.choice(HEADINGS).format(Noun=rng.choice(NOUNS), Name=a[0], Place=_title(place[0]))
        blocks.append(f"Chapter {chapter}: {heading}")
        for s in range(rng.randint(3, 5)):
            if s:
                blocks.append("***")
                if rng.random() < 0.5:
                    place = rng.choice(PLACES)
                if rng.random() < 0.4:
                    a, b = b, a
            paras = teller.scene(a, b, c, place, obj, rng.randint(180, 420))
            blocks.extend(paras)
            count += sum(len(p.split()) for p in paras)
            if count >= words:
                break
    return "\n\n".join(blocks) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(generate(args.words, args.seed), end="")


if __name__ == "__main__":
    main()
