//! What customers' own words say: a comment that praises someone, and a comment that
//! complains. Both are word lists matched at word starts, case-insensitively ("thanks"
//! holds "thank", "frustrating" holds "frustrat"), so a reader can see why a comment was
//! taken one way or the other.

/// Words and phrases that praise someone, lowercase. A comment praises when it holds one
/// of them, no word of [`COMPLAINT_WORDS`] and nothing [`negative`].
pub const PRAISE_WORDS: &[&str] = &[
    "thank",
    "helpful",
    "great",
    "excellent",
    "friendly",
    "patient",
    "amazing",
    "kind",
    "knowledgeable",
    "fantastic",
    "brilliant",
    "lovely",
    "appreciate",
    "above and beyond",
    "polite",
    "professional",
    "wonderful",
    "superb",
    "outstanding",
    "went the extra mile",
];

/// Words that keep a comment from counting as praise whatever else it says ("great,
/// another hour on hold", "not helpful").
pub const COMPLAINT_WORDS: &[&str] = &[
    "not ",
    "never",
    "rude",
    "terrible",
    "awful",
    "worst",
    "useless",
    "waste",
    "disappoint",
    "unacceptable",
    "still waiting",
    "no one",
    "nobody",
];

/// Words and phrases that make a comment negative, lowercase, matched at word starts. A
/// match within three words after a negation in the same clause ("not bad", "wasn't
/// rude", "never had a bad day") does not count.
pub const NEGATIVE_WORDS: &[&str] = &[
    "rude",
    "terrible",
    "awful",
    "worst",
    "useless",
    "waste",
    "disappoint",
    "unacceptable",
    "horrible",
    "dreadful",
    "appalling",
    "shocking",
    "pathetic",
    "ridiculous",
    "frustrat",
    "angry",
    "furious",
    "annoy",
    "upset",
    "unhappy",
    "not happy",
    "unhelpful",
    "not helpful",
    "incompetent",
    "clueless",
    "poor",
    "bad",
    "complain",
    "cancel",
    "broken",
    "wrong",
    "fail",
    "mistake",
    "overcharg",
    "charged twice",
    "misled",
    "misleading",
    "lied",
    "ignored",
    "no one",
    "nobody",
    "still waiting",
    "still not",
    "kept waiting",
    "waited",
    "hung up",
    "cut off",
    "on hold for",
    "too long",
    "took forever",
    "for ages",
    "not resolved",
    "unresolved",
    "not fixed",
    "not solved",
    "not sorted",
    "not good enough",
    "not recommend",
    "wouldn't recommend",
    "didn't know",
    "did not know",
    "didn't help",
    "did not help",
    "didn't listen",
    "did not listen",
    "doesn't work",
    "does not work",
    "never again",
    "never called",
    "never got",
    "never received",
    "never resolved",
    "never fixed",
    "switching to",
    "going elsewhere",
];

/// Words that turn what follows around ("not bad").
const NEGATIONS: &[&str] = &["not", "no", "never", "nothing", "without", "hardly"];

/// How many words back a negation reaches.
const NEGATION_REACH: usize = 3;

/// The lowercase text padded with a space each side, so every word has a start.
fn padded(comment: &str) -> String {
    format!(" {} ", comment.to_lowercase().replace('\u{2019}', "'"))
}

/// The positions in `text` where `word` starts a word.
fn word_starts<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    text.match_indices(word).filter_map(move |(at, _)| {
        text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
            .then_some(at)
    })
}

/// Whether one of the [`NEGATION_REACH`] words before `at`, in the same clause (after the
/// last `,.;:!?` or "but"), negates what follows ("not", "isn't", "no").
fn negated(text: &str, at: usize) -> bool {
    let clause = text[..at]
        .rsplit(|c: char| ",.;:!?".contains(c))
        .next()
        .unwrap_or("");
    let clause = clause.rsplit(" but ").next().unwrap_or(clause);
    clause
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .rev()
        .take(NEGATION_REACH)
        .any(|w| NEGATIONS.contains(&w) || w.ends_with("n't"))
}

/// The praise words `comment` holds when it praises (and complains about nothing), else
/// `None`.
pub fn praise(comment: &str) -> Option<Vec<&'static str>> {
    let text = padded(comment);
    if COMPLAINT_WORDS
        .iter()
        .any(|w| word_starts(&text, w).next().is_some())
        || negative(comment).is_some()
    {
        return None;
    }
    let found: Vec<&'static str> = PRAISE_WORDS
        .iter()
        .copied()
        .filter(|w| word_starts(&text, w).next().is_some())
        .collect();
    (!found.is_empty()).then_some(found)
}

/// The negative words `comment` holds (each at least once not right after a negation),
/// else `None`.
pub fn negative(comment: &str) -> Option<Vec<&'static str>> {
    let text = padded(comment);
    let found: Vec<&'static str> = NEGATIVE_WORDS
        .iter()
        .copied()
        .filter(|w| word_starts(&text, w).any(|at| !negated(&text, at)))
        .collect();
    (!found.is_empty()).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn praise_is_found_and_complaints_are_not_praise() {
        assert_eq!(
            praise("Thanks so much, Priya was really helpful!"),
            Some(vec!["thank", "helpful"])
        );
        assert_eq!(praise("Great, another hour on hold. Not helpful."), None);
        assert_eq!(praise("The agent was rude"), None);
        // words inside other words do not count
        assert_eq!(praise("ungreatful unkindness"), None);
        assert_eq!(
            praise("She went above and beyond"),
            Some(vec!["above and beyond"])
        );
        assert_eq!(praise("Billing fixed."), None);
        assert_eq!(praise(""), None);
        assert_eq!(praise("Lovely agent but I waited 40 minutes"), None);
    }

    #[test]
    fn negative_comments_are_found_with_their_words() {
        assert_eq!(
            negative("The agent was RUDE and I was kept waiting."),
            Some(vec!["rude", "kept waiting"])
        );
        assert_eq!(
            negative("Third call this week and it's still not fixed, so frustrating"),
            Some(vec!["frustrat", "still not", "not fixed"])
        );
        assert_eq!(negative("I'm cancelling my contract"), Some(vec!["cancel"]));
        assert_eq!(negative("Never again."), Some(vec!["never again"]));
        // a typographic apostrophe is an apostrophe
        assert_eq!(
            negative("She didn\u{2019}t help at all"),
            Some(vec!["didn't help"])
        );
    }

    #[test]
    fn negations_and_kind_words_are_not_negative() {
        for comment in [
            "Not bad at all, thanks",
            "No problem, sorted in minutes",
            "The agent wasn't rude, just busy",
            "Quick and friendly, thank you",
            "Nothing wrong with the service",
            "",
            "debadge", // no word starts with "bad" here
        ] {
            assert_eq!(negative(comment), None, "{comment}");
        }
        // one negated and one plain match: negative
        assert_eq!(
            negative("Not rude, but the bill is wrong"),
            Some(vec!["wrong"])
        );
    }

    #[test]
    fn negation_reaches_three_words_back_within_the_clause() {
        let negated_at = |comment: &str, word: &str| {
            let text = padded(comment);
            let at = word_starts(&text, word).next().unwrap();
            negated(&text, at)
        };
        assert!(negated_at("isn't bad", "bad"));
        assert!(negated_at("never had a bad day", "bad"));
        assert!(!negated_at("not that I mind a bad day", "bad"));
        assert!(!negated_at("it was not, honestly, bad", "bad"));
        assert!(!negated_at("no queue but the bill is wrong", "wrong"));
    }
}
