from storyforge.cli import main

main()
