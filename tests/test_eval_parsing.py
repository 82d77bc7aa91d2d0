"""Answer parsers: GSM8K numbers and MMLU letters, on many reply shapes."""

import pytest

from llm_from_scratch.eval import (
    gsm8k_correct,
    normalize_number,
    parse_choice,
    parse_gsm8k,
)

GSM8K = [
    ("#### 42", "42"),
    ("The answer is 42.", "42"),
    ("She has 3 apples, then 5 more: 8", "8"),
    ("Step 1: 2 + 2 = 4\nStep 2: 4 * 3 = 12\n#### 12", "12"),
    ("#### 1,234", "1234"),
    ("It costs $1,234.50 in total.", "1234.5"),
    ("#### $18", "18"),
    ("The temperature fell to -7 degrees.", "-7"),
    ("#### -3.0", "-3"),
    ("#### $-12", "-12"),
    ("-$5 is the balance", "-5"),
    ("0.50 of them", "0.5"),
    ("#### 007", "7"),
    ("#### -0", "0"),
    ("about 1,000,000 people", "1000000"),
    ("#### 5 apples, not 6", "5"),  # the number right after ####
    ("I think 7 #### 9", "9"),
    ("#### 3\nlater edit: #### 4", "4"),  # the last #### wins
    ("Version v2 gives 3", "3"),  # v2 is not a number
    ("50% of the time", "50"),
    ("2021-05-03", "3"),  # a date's last part, the flexible rule
    ("no number here", None),
    ("", None),
    ("####", None),
    ("#### seven", None),
    ("1,23 is not grouped", "23"),
    ("3.14159", "3.14159"),
    ("answer: 12.", "12"),
]


@pytest.mark.parametrize("reply, expected", GSM8K)
def test_parse_gsm8k(reply, expected):
    assert parse_gsm8k(reply) == expected


def test_gsm8k_correct_compares_numbers():
    assert gsm8k_correct("so the total is $1,200", "#### 1200")
    assert not gsm8k_correct("so the total is 1201", "#### 1200")
    assert gsm8k_correct("#### 2.50", "2.5")
    with pytest.raises(ValueError, match="holds no number"):
        gsm8k_correct("1", "none")


def test_normalize_number():
    assert normalize_number(" $1,000.00 ") == "1000"
    assert normalize_number("1 2") is None
    assert normalize_number("abc") is None


CHOICES = ["Hamlet", "Lear", "Othello", "Macbeth"]
MMLU = [
    ("The answer is (B)", "B"),
    ("The answer is B", "B"),
    ("the answer is b.", "B"),
    ("Answer: C", "C"),
    ("Answer: (d)", "D"),
    ("answer is: [D]", "D"),
    ("The answer would be option A", "A"),
    ("B.", "B"),
    ("B", "B"),
    ("b", "B"),
    ("(b)", "B"),
    ("[C]", "C"),
    ("C) Othello", "C"),
    ("b) Lear", "B"),
    ("a. Hamlet", "A"),
    ("  D  ", "D"),
    ("A", "A"),
    ("A is correct", "A"),
    ("A. Hamlet", "A"),
    ("I think it is D", "D"),
    ("Option C, clearly.", "C"),
    ("A good guess is C", "C"),  # the article A is not an option
    ("The answer is B, not C", "B"),  # the statement wins
    ("Lear", "B"),  # the option's text, no letter
    ("othello.", "C"),
    # adversarial: unparsed
    ("Both A and C", None),
    ("It is A or B", None),
    ("(A) or (B)", None),
    ("answer is C. Actually the answer is D", None),
    ("I choose C because A is wrong", None),
    ("the answer is a dog", None),
    ("None of them", None),
    ("", None),
    ("E", None),  # not an option
    ("The answer is (E)", None),
    ("I don't know", None),
    ("Hamlet or Lear", None),
    ("ABCD", None),
    ("a dog barked", None),
]


@pytest.mark.parametrize("reply, expected", MMLU)
def test_parse_choice(reply, expected):
    assert parse_choice(reply, choices=CHOICES) == expected


def test_parse_choice_letters_and_errors():
    assert parse_choice("E", letters="ABCDE") == "E"
    assert parse_choice("Lear") is None  # without choices, text is not a letter
    with pytest.raises(ValueError, match="upper-case"):
        parse_choice("A", letters="abcd")
    with pytest.raises(ValueError, match="choices"):
        parse_choice("A", choices=["x"])


def test_many_shapes():
    assert len(GSM8K) + len(MMLU) >= 40
