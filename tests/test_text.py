from pathlib import Path

from storyforge import text as tx
from storyforge.reading import cast, structure

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "mock"


def test_a_hard_wrapped_text_is_unwrapped_cleaned_and_mended():
    doc = structure.read("The Mad-\nmen came\nhome.\x00\n\n“Quoted” — kept.\r\nNext line")
    assert doc.sections == [("", ["The Madmen came home.", "“Quoted” — kept. Next line"])]


def test_sections_split_at_explicit_breaks():
    text = "Chapter 1\n\nOne.\n\n***\n\nTwo.\n\n\n\nThree.\n\nINT. KITCHEN - NIGHT\n\nFour."
    sections = structure.read(text).sections
    assert [ps for _, ps in sections] == [["One."], ["Two."], ["Three."], ["Four."]]
    assert sections[0][0] == "Chapter 1" and sections[3][0].startswith("INT. KITCHEN")


def test_sentences_latin_and_devanagari():
    assert tx.sentences("Mr. Hale waved. “Go!” she said. Done?") == ["Mr. Hale waved.", "“Go!” she said.", "Done?"]
    assert tx.sentences("गौरी घर गई। कबीर आया। क्या हुआ?") == ["गौरी घर गई।", "कबीर आया।", "क्या हुआ?"]


def test_example_stories_cast():
    en = "\n\n".join(
        ps for _, paragraphs in structure.read((ASSETS / "example_story.txt").read_text()).sections for ps in paragraphs
    )
    assert {p.name for p in cast.characters(en, "en")} == {"Ilsa", "Bram"}
    hi = "\n\n".join(p for _, ps in structure.read((ASSETS / "example_story_hi.txt").read_text()).sections for p in ps)
    assert tx.language(hi) == "hi"
    assert {"गौरी", "कबीर"} <= {p.name for p in cast.characters(hi, "hi")}
