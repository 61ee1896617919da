"""pipeline.listing.listed: the names a message quotes, all of them or the first few and how many more."""

from pipeline.listing import listed


def test_few_names_are_all_shown() -> None:
    assert listed(["a", "b", "c"], 3) == "a, b, c"
    assert listed(range(2)) == "0, 1"
    assert listed([]) == ""


def test_many_names_show_the_first_and_how_many_more() -> None:
    assert listed([f"pixel{i}" for i in range(784)], 3) == "pixel0, pixel1, pixel2 ... and 781 more"
    assert listed(["line 2: x, y", "line 3: z", "line 4: w"], 1, "; ") == "line 2: x, y ... and 2 more"
