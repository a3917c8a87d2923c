"""Reading a story the way a listener hears it, by rules over the text alone (no models):

- `structure`: a book as people have it (hard-wrapped or indented, with front and back matter, licence
  blocks, contents tables, chapter headings and their subtitles, ebook markup, screenplay sluglines and play
  cues) -> title, author, and the sections and paragraphs that are read aloud;
- `dialogue`: which parts of a paragraph are quoted speech (double, single and typographic quotes,
  guillemets, dash-led lines) and who says each, with the reason (a tag, a cue, alternation, unknown);
- `cast`: the characters (multi-word names with their short forms, whole-word matches, named things that
  the text says are not people left out) and places.
"""
