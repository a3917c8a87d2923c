"""Reading real books the way a listener hears them: structure (front matter, chapters, paragraphs, hyphens),
scene and shot lengths, dialogue and who speaks it, the cast, and words in any script."""

from __future__ import annotations

import anyio
import pytest

from storyforge import rules
from storyforge import text as tx
from storyforge.engine.contract import PromptSet, RunContext
from storyforge.models import Shot, ShotType, Story, VoiceType
from storyforge.reading import cast, dialogue, structure
from storyforge.resources import resource_dir
from storyforge.services.audio.tts.tone import ToneTTS
from storyforge.stages.narration import Narrate
from tests.support.stories import ingest

PROSE = "The wind came down off the moor and rattled the shutters of the old inn all night long. "


def narrated(story: Story) -> str:
    return " ".join(p for s in story.sections for p in s.paragraphs)


# --- structure: front and back matter, furniture, chapters, paragraphs, hyphens -------------------------------


def test_source_line_title_and_author_are_facts_not_narration():
    raw = (
        "Margery Holt\n\nThe Lantern Keeper\n\n"
        "From “Tales of the Northern Coast”, Harrow & Sons, London, 1911.\n\n" + PROSE * 3 + "\n\n" + PROSE
    )
    story = ingest(raw)
    assert (story.title, story.author) == ("The Lantern Keeper", "Margery Holt")
    assert story.sources == ["From “Tales of the Northern Coast”, Harrow & Sons, London, 1911."]
    assert "Tales" not in story.text and "Margery" not in story.text and "Lantern Keeper" not in story.text
    assert not any("Tales" in c.name or "Northern" in c.name for c in story.characters)


def test_ebook_furniture_is_removed_and_the_words_kept():
    raw = (
        "The Project Gutenberg eBook of The Inn\nTitle: The Inn\nAuthor: Ann Marsh\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK THE INN ***\n\n"
        "THE INN\n\nby Ann Marsh\n\nCONTENTS\n\n  I. The Storm\n  II. The Guest\n\n\n\n"
        "CHAPTER I.\nThe Storm\n\n" + PROSE + "It was _very_ cold.\n\n[Illustration: The inn at night]\n\n"
        + PROSE + "\n\n*       *       *       *       *\n\n" + PROSE
        + "\n\n\n\nCHAPTER II.\n\nTHE GUEST\n\n" + PROSE + "\n\nTHE END\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK THE INN ***\n\nSection 1. General Terms of Use and Redistributing"
    )  # fmt: skip
    story = ingest(raw)
    assert (story.title, story.author) == ("The Inn", "Ann Marsh")
    assert [s.heading for s in story.sections if s.heading] == ["CHAPTER I. The Storm", "CHAPTER II. THE GUEST"]
    assert len(story.sections) == 3  # the * * * break opens a section of its own
    text = narrated(story)
    for furniture in ("Gutenberg", "Illustration", "CONTENTS", "_", "*", "THE END", "General Terms", "Ann Marsh"):
        assert furniture not in text
    assert "It was very cold." in text


def test_a_chapter_heading_takes_the_subtitle_line_under_it():
    raw = "CHAPTER II.\nTHE POOL OF TEARS\n\n" + PROSE + "\n\n\n\nChapter 3\n\nThe Storm\n\n" + PROSE
    story = ingest(raw)
    assert [s.heading for s in story.sections] == ["CHAPTER II. THE POOL OF TEARS", "Chapter 3 The Storm"]
    assert all(s.paragraphs[0].startswith("The wind") for s in story.sections)


def test_paragraphs_marked_only_by_indentation_are_kept_apart():
    raw = "\n".join(
        [
            "    It was a dark night. The wind blew hard over the moor and the",
            "rain came in sheets against the window of the inn where we sat.",
            '    "Who is there?" said Tom, getting up from the settle by the',
            "fire and reaching for the lamp on the mantel above his head.",
            '    "Only me," said Mary, shaking the water from her coat as she',
            "came in out of the storm and stood dripping on the flagstones.",
            "    Tom laughed.",
        ]
    )
    paragraphs = [p for _, ps in structure.read(raw).sections for p in ps]
    assert len(paragraphs) == 4
    assert paragraphs[1].startswith('"Who is there?"') and paragraphs[3] == "Tom laughed."


def test_line_end_hyphens_are_mended_with_evidence_from_the_text():
    raw = (
        "He put the watch back in his WAISTCOAT-\nPOCKET and hurried on. It had hap-\npened before. "
        "The waistcoat-pocket was deep. Dashes--\nlike this--stay."
    )
    text = structure.mend_hyphens(raw)
    assert "WAISTCOAT-POCKET" in text  # the text writes the compound with a hyphen elsewhere
    assert "happened" in text  # "hap" and "pened" are no words of this text
    assert "Dashes--like this--stay." in text


# --- scenes and shots ----------------------------------------------------------------------------------------


def test_a_giant_paragraph_becomes_scenes_near_the_target_length():
    sentences = [f"Sentence number {i} tells a little more of the long tale of the sea." for i in range(300)]
    story = ingest(" ".join(sentences))  # about 4,200 words, one paragraph
    scenes = rules.split_scenes(story, 220).scenes
    sizes = [len(tx.words(s.text)) for s in scenes]
    assert len(scenes) >= 15 and max(sizes) <= 2 * 220
    assert rules.coverage(story.text, [s.text for s in scenes]) == 1.0


def test_no_scene_or_shot_break_falls_inside_a_quotation():
    speech = " ".join(f"Point {i} of the plan is simple and the crew must learn it." for i in range(6))  # 78 words
    para = f"{PROSE}The captain stood. “{speech}” The crew cheered. " + PROSE * 20
    story = ingest(para)
    for scene in rules.split_scenes(story, 150).scenes:
        assert scene.text.count("“") == scene.text.count("”")
        for shot in rules.plan_shots(story, scene, 35).shots:
            assert shot.narration.count("“") == shot.narration.count("”")


# --- dialogue ------------------------------------------------------------------------------------------------


def test_untagged_lines_alternate_between_the_two_speakers():
    paragraphs = [
        "“Where have you been?” asked Mara.",
        "“Out on the cliffs,” said Tom.",
        "“In this weather?”",
        "“The gulls were nesting.”",
        "“You'll catch your death.”",
    ]
    lines = dialogue.attribute(paragraphs, {"Mara": "Mara", "Tom": "Tom"})
    said = [(line.speaker, line.reason) for para in lines for line in para if line.quoted]
    assert said == [("Mara", "tag"), ("Tom", "tag"), ("Mara", "alternation"), ("Tom", "alternation"), ("Mara", "alternation")]


def test_single_quote_dialogue_is_speech_and_apostrophes_are_not():
    text = "'I don't think,' said Alice, 'that the boys' hats will fit.' She laughed at the cat's tail."
    spans = dialogue.spans(text, dialogue.single_quotes(text * 2))
    assert [(s.quoted, s.text) for s in spans] == [
        (True, "'I don't think,'"),
        (False, "said Alice,"),
        (True, "'that the boys' hats will fit.'"),
        (False, "She laughed at the cat's tail."),
    ]


def test_quoted_titles_and_scare_quotes_are_not_voiced():
    spans = dialogue.spans("He had read “Robinson Crusoe” twice, and the so-called “expert” agreed.")
    assert not any(s.quoted for s in spans)
    assert dialogue.spans("“Robinson Crusoe!” he cried.")[0].quoted


def test_dash_led_lines_and_guillemets_are_speech_with_their_speaker():
    lines = dialogue.attribute(
        ["« Quoi de neuf ce matin ? demanda M. Rade.", "– Rien du tout, répondit M. Piston. »"],
        {"M. Rade": "M. Rade", "Rade": "M. Rade", "M. Piston": "M. Piston", "Piston": "M. Piston"},
    )
    assert [(line.speaker, line.reason) for para in lines for line in para if line.quoted] == [
        ("M. Rade", "tag"),
        ("M. Piston", "tag"),
    ]


def test_each_clip_records_who_speaks_and_why(tmp_path):
    story = ingest(
        "Mara waited by the door.\n\n“Where have you been?” asked Mara.\n\n“Out on the cliffs,” said Tom.\n\n“In this weather?”"
    )
    scene = rules.split_scenes(story, 220).scenes[0]
    shot = rules.assign_speech(rules.plan_shots(story, scene, 200), scene, story).shots[0]
    ctx = RunContext(
        stage="narration", item=shot.id, seed=0, scratch=tmp_path, prompts=PromptSet(resource_dir("conf") / "prompts" / "v1")
    )
    clip = anyio.run(Narrate(Narrate.Params(), {"tts": ToneTTS()}).run, ctx, shot, story)
    said = [(line.speaker, line.reason) for line in clip.lines if line.voice == VoiceType.dialogue]
    assert said == [("Mara", "tag"), ("Tom", "tag"), ("Mara", "alternation")]
    assert clip.lines[-1].end_s == pytest.approx(clip.duration_s, abs=0.2) and clip.pauses


# --- the cast --------------------------------------------------------------------------------------------------


def test_a_name_beside_quotes_and_apostrophes_is_found_and_full_names_merge():
    text = (
        "'Tom!' cried his aunt. 'Tom's late again,' she said. Tom Arthur Sawyer came in at last. "
        "'Tom, where were you?' Nobody knew where Tom had been. 'Tom?' 'Here,' said Tom."
    )
    people = cast.characters(text, "en", min_count=2)
    tom = next(p for p in people if "Tom" in (p.name, *p.aliases))
    assert tom.name == "Tom Arthur Sawyer" or "Tom Arthur Sawyer" in tom.aliases


def test_names_match_whole_words_and_named_things_are_not_people():
    text = (
        "Ilsa lit the old lamp called Sofronie every night. Sofronie, the lamp, hissed. Ilsa sighed. "
        "Then Ilsa saw a tom-tit on the sill. Later Sofronie went out and Ilsa said she was tired. Ilsa slept."
    )
    people = {p.name for p in cast.characters(text, "en", min_count=2)}
    assert people == {"Ilsa"}
    assert not tx.mentions("Tom", "a tom-tit and a Tom-tit") and tx.mentions("Tom", "and Tom, too")


# --- words in any script ----------------------------------------------------------------------------------------


def test_hindi_words_keep_their_vowel_signs_and_viramas():
    text = "गौरी ने किताब पढ़ी और कबीर ने मुस्कुराकर कहा कि हिन्दी बहुत सुंदर भाषा है।"
    assert len(tx.words(text)) == len(text.replace("।", "").split()) == 15
    story = ingest(text + "\n\n" + text)
    scene = rules.split_scenes(story, 220).scenes[0]
    assert scene.title == "गौरी ने किताब पढ़ी और कबीर"
    assert rules.plan_shots(story, scene, 35).shots[0].duration_s == pytest.approx(30 / 130 * 60, abs=0.1)


def test_a_planned_shot_is_read_at_the_rate_of_its_language():
    assert tx.words_per_minute("hi") < tx.words_per_minute("en")
    assert tx.language("Le chat et le chien sont dans la maison, et il ne pleut pas.") == "fr"


@pytest.mark.parametrize("voice", ["narrator", "dialogue"])
def test_a_shot_edited_after_planning_reads_its_own_speakers(tmp_path, voice):
    story = ingest("“Come here,” said Tom. " + PROSE)
    narration = "“Go away,” said Tom." if voice == "dialogue" else "The rain stopped."
    shot = Shot(scene_index=1, index=1, shot_type=ShotType.wide, description="d", narration=narration, duration_s=2)
    ctx = RunContext(
        stage="narration", item=shot.id, seed=0, scratch=tmp_path, prompts=PromptSet(resource_dir("conf") / "prompts" / "v1")
    )
    clip = anyio.run(Narrate(Narrate.Params(), {"tts": ToneTTS()}).run, ctx, shot, story)
    assert [line.speaker for line in clip.lines if line.voice == VoiceType.dialogue] == (["Tom"] if voice == "dialogue" else [])


# --- nothing a reader would read is lost -------------------------------------------------------------------------

P2 = "The rain stopped at dawn and the fishermen went down to the boats in silence. "


@pytest.mark.parametrize(
    "raw",
    [
        PROSE + "\n\nPart of me wanted to stay.\n\n" + P2,  # a sentence that starts like a heading
        "She walked slowly through the eastern\npart of the house, where the old clocks\nstood, and found nothing.\n\n" + P2,
        "In the summer of 1942, my grandfather left the village.\n\n" + P2,  # a year is not a source line
        "It was late.\n\n" + PROSE + "\n\n" + P2,  # a short first sentence is not a title
        "‘Is anybody there?’\n\n" + PROSE,
        PROSE + "\n\n“How are you feeling?”\n\nFine.\n\n" + P2 * 3,  # "Fine." is not "FINE", the end
        "He took 'em home. " + PROSE + "\n\n" + P2,
    ],
    ids=["part-of", "wrapped-part", "year", "short-first", "quote-first", "fine", "elision"],
)
def test_no_sentence_of_the_story_is_taken_for_structure(raw):
    story = ingest(raw)
    assert tx.words(story.text) == tx.words(raw.replace("\n", " "))


def test_a_play_without_blank_lines_gives_each_speech_to_its_cue():
    raw = "JACK\nIs that you, Algernon?\nALGERNON\nYes.\nJACK\nYou are late again.\nALGERNON\nI am never late.\nJACK\nYes.\n"
    story = ingest(raw)
    paragraphs = [p for s in story.sections for p in s.paragraphs]
    said = [line.speaker for para in dialogue.attribute(paragraphs, rules.cast_names(story), story.cues) for line in para]
    assert said == ["Jack", "Algernon", "Jack", "Algernon", "Jack"]  # "Yes." is said twice, by each of them


def test_one_paragraph_per_line_and_dash_turns_stay_apart():
    raw = "Il entra sans rien dire à personne ce soir-là.\n— Mais enfin, Pierre, je —\n— Non, dit-il. Laisse-moi.\n"
    assert [p for _, ps in structure.read(raw).sections for p in ps] == [
        "Il entra sans rien dire à personne ce soir-là.",
        "— Mais enfin, Pierre, je —",
        "— Non, dit-il. Laisse-moi.",
    ]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("»Komm her«, sagte Hans.", ["»Komm her«"]),
        ('He was 5\'10" tall. "Hello," said Tom.', ['"Hello,"']),
        ("Tom told Mary everything: how he had lost the farm.", []),
    ],
)
def test_quotations_in_other_conventions(text, quoted):
    lines = dialogue.attribute([text], {"Tom": "Tom", "Mary": "Mary", "Hans": "Hans"})[0]
    assert [line.text for line in lines if line.quoted] == quoted


def test_a_speaker_introduced_by_a_colon_or_described_by_the_tag_is_recorded():
    paragraphs = [
        "Loisel came home late, and he said to his wife:",
        "“Look what I have brought you.”",
        "“I buy hair,” said Madame.",
    ]
    lines = dialogue.attribute(paragraphs, {"Loisel": "Loisel"}, leads={"Loisel": "m"})
    said = [(line.speaker, line.reason) for para in lines for line in para if line.quoted]
    assert said == [("Loisel", "tag"), ("Madame", "tag")]


def test_a_title_page_with_credits_imprint_and_a_paged_contents_table_is_not_narrated():
    raw = (
        "HARD TIMES\nAND REPRINTED PIECES\n\nBy CHARLES DICKENS\n\nWith illustrations by Marcus Stone, Maurice\n"
        "Greiffenhagen, and F. Walker\n\nLONDON: CHAPMAN & HALL, LD.\n\n1905\n\nCONTENTS\n\n"
        "                                   PAGE\nBOOK THE FIRST--SOWING          1\nBOOK THE SECOND--REAPING      64\n\n\n\n"
        "BOOK THE FIRST\n\n_SOWING_\n\n\n\nCHAPTER I\nTHE ONE THING NEEDFUL\n\n" + PROSE * 3
    )
    story = ingest(raw)
    assert (story.title, story.author) == ("HARD TIMES AND REPRINTED PIECES", "CHARLES DICKENS")
    assert "Greiffenhagen, and F. Walker" in story.sources and "LONDON: CHAPMAN & HALL, LD." in story.sources
    assert tx.words(story.text) == tx.words(PROSE * 3)


def test_a_speaker_tagged_by_title_is_in_the_cast_and_a_capitalised_noun_is_not():
    text = (
        "“I buy hair,” said Madame. Della took off her hat. “Twenty dollars,” said Madame, lifting the mass. "
        "Della said yes. He is a Bunburyist, said Jim, and every Bunburyist lies. Della laughed. Jim smiled."
    )
    names = {p.name for p in cast.characters(text, "en", min_count=2)}
    assert "Madame" in names and "Della" in names and "Bunburyist" not in names
