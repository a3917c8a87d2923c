from pathlib import Path

from storyforge import text as tx

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "mock"


def test_normalize_unwraps_rejoins_and_cleans():
    raw = "The Mad-\nmen came\nhome.\x00\n\n“Quoted” — kept.\r\nNext line"
    assert tx.normalize(raw) == "The Madmen came home.\n\n“Quoted” — kept. Next line"


def test_sections_split_at_explicit_breaks():
    text = "Chapter 1\n\nOne.\n\n***\n\nTwo.\n\n\n\nThree.\n\nINT. KITCHEN - NIGHT\n\nFour."
    sections = tx.split_sections(tx.normalize(text))
    assert [ps for _, ps in sections] == [["One."], ["Two."], ["Three."], ["Four."]]
    assert sections[0][0] == "Chapter 1" and sections[3][0].startswith("INT. KITCHEN")


def test_sentences_latin_and_devanagari():
    assert tx.sentences("Mr. Hale waved. “Go!” she said. Done?") == ["Mr. Hale waved.", "“Go!” she said.", "Done?"]
    assert tx.sentences("गौरी घर गई। कबीर आया। क्या हुआ?") == ["गौरी घर गई।", "कबीर आया।", "क्या हुआ?"]


def test_example_stories_cast():
    en = tx.split_title(tx.normalize((ASSETS / "example_story.txt").read_text()))[1]
    assert set(tx.proper_names(en)) == {"Ilsa", "Bram"}
    hi = tx.split_title(tx.normalize((ASSETS / "example_story_hi.txt").read_text()))[1]
    assert tx.language(hi) == "hi"
    assert {"गौरी", "कबीर"} <= set(tx.proper_names(hi, min_count=2))
