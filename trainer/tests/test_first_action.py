from swerl_trainer.first_action import classify


def test_classify_names_each_first_action_by_the_line_it_deletes():
    # An issue naming line 17 in a function that starts on line 14.
    sed = "```\nsed -i '{}d' app.py\n```".format
    assert classify(sed(17), 17, 14) == "gold"
    assert classify(sed(18), 17, 14) == "line-below"
    assert classify(sed(14), 17, 14) == "def-line"
    assert classify(sed(1), 17, 14) == "other-line"
    assert classify("```\nsubmit\n```", 17, 14) == "submit"
    # Anything but the exact command is `other`: another file, another flag, extra text.
    assert classify("```\nsed -i '17d' m.py\n```", 17, 14) == "other"
    assert classify("```\nsed '17d' app.py\n```", 17, 14) == "other"
    assert classify("```\nedit 17:17\nend_of_edit\n```", 17, 14) == "other"
