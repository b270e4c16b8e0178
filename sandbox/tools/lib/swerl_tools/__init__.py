"""In-container tools of the swerl agent (SWE-agent style). Stdlib only; runs on any python3 >= 3.6.

Every executable in ../../bin is a thin launcher into cli.main. State that must survive between separate
`docker exec`s (open file, window position, current directory, base commit) lives in one JSON file.
"""
