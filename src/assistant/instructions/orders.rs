//! Speech that orders an answer: rules declared for answers, orders
//! addressed to a model or to "you" about what to write, and the exact words
//! to write.

use super::Words;

/// Words for what a model writes.
pub(super) const ANSWERS: &[&str] = &[
    "answer",
    "answers",
    "response",
    "responses",
    "reply",
    "replies",
    "summary",
    "summaries",
    "completion",
    "completions",
];

/// Words for a model or assistant as the reader.
pub(super) const MODELS: &[&str] = &[
    "ai",
    "ais",
    "assistant",
    "assistants",
    "chatbot",
    "chatbots",
    "llm",
    "llms",
    "gpt",
    "copilot",
    "summarizer",
    "summarizers",
    "summariser",
    "summarisers",
];

/// A rule about answers declared in the document: "new rule", "from now on",
/// "the correct response to any question about this is ...", "all questions
/// about X must be answered with ...".
pub(super) fn declares_a_rule(lower: &str, words: &Words<'_>) -> bool {
    const DECLARATIONS: &[&str] = &[
        "new rule",
        "new policy",
        "policy update",
        "updated policy",
        "rule update",
        "updated rule",
        "from now on",
        "from this point",
        "henceforth",
        "going forward",
        "effective immediately",
        "important update",
        "new instructions",
        "updated instructions",
    ];
    let about_answers = words.has(ANSWERS)
        || words.has(MODELS)
        || words.has(&[
            "respond",
            "answered",
            "say",
            "speak",
            "talk",
            "questions",
            "asked",
            "message",
            "messages",
            "conversation",
        ]);
    if DECLARATIONS.iter().any(|d| lower.contains(d)) && about_answers {
        return true;
    }
    const ONLY: &[&str] = &[
        "correct",
        "right",
        "only",
        "proper",
        "official",
        "expected",
        "required",
        "approved",
        "standard",
        "valid",
        "mandatory",
    ];
    // "The correct response to any question about X is Y."
    let any_question = words.has_then(
        &["any", "every", "all", "each"],
        2,
        &[
            "question",
            "questions",
            "query",
            "queries",
            "request",
            "requests",
        ],
    );
    any_question
        && (words.has_then(ONLY, 1, ANSWERS)
            || words.has_then(
                &["must", "should", "shall", "are", "is"],
                2,
                &["answered", "met", "replied", "responded"],
            ))
}

/// Modal words of an order: "must", "should", "please", "need to"...
pub(super) fn is_directive(words: &Words<'_>) -> bool {
    const MODAL: &[&str] = &[
        "must",
        "should",
        "shall",
        "always",
        "never",
        "please",
        "required",
        "instructed",
        "expected",
        "obliged",
        "mandatory",
        "remember",
        "ensure",
        "don't",
        "ought",
        "instruct",
        "instructing",
        "ordering",
        "commanding",
        "directing",
    ];
    words.has(MODAL)
        || words.has_then(&["need", "needs", "have", "has", "are", "is"], 0, &["to"])
        || words.has_then(&["make", "be"], 0, &["sure"])
        || words.has_then(&["do"], 0, &["not"])
        || words.has_then(
            &[
                "asked",
                "requested",
                "invited",
                "encouraged",
                "advised",
                "told",
                "supposed",
            ],
            0,
            &["to"],
        )
}

/// Verbs for what a model does with its answer.
const WRITE: &[&str] = &[
    "answer",
    "answering",
    "respond",
    "responding",
    "reply",
    "replying",
    "say",
    "output",
    "append",
    "prepend",
    "include",
    "end",
    "begin",
    "start",
    "close",
    "finish",
    "sign",
    "translate",
    "repeat",
    "mention",
    "recommend",
    "tell",
    "state",
    "cite",
    "refuse",
    "claim",
    "summarise",
    "summarize",
    "insert",
    "link",
    "redirect",
    "advise",
    "urge",
    "inform",
    "remind",
    "warn",
    "convince",
    "persuade",
    "praise",
    "promote",
    "reveal",
];

/// An order about what to write: addressed to a model ("AI assistants
/// reading this should end with ..."), to "you" about an answer ("when you
/// answer, say ..."), or an imperative whose object is the answer ("append X
/// to your reply", "respond only with X").
pub(super) fn orders_an_answer(lower: &str, words: &Words<'_>) -> bool {
    let to_a_model = words.has(MODELS)
        || lower.contains("language model")
        || lower.contains("if you are an")
        || lower.contains("if you're an");
    let vocative = [
        "note to ",
        "note for ",
        "attention ",
        "dear ",
        "message to ",
        "message for ",
        "instruction to ",
        "instructions to ",
        "instruction for ",
        "instructions for ",
    ]
    .iter()
    .any(|v| lower.contains(v))
        || lower
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .starts_with("for ");
    if to_a_model
        && words.has(WRITE)
        && (is_directive(words) || vocative || starts_imperative(lower))
    {
        return true;
    }
    // "Your only reply is X.", "The assistant's next output is X."
    if words.has_sequence(&[
        &["your"],
        ANSWERS,
        &["is", "will", "must", "should", "shall"],
    ]) || words.has_sequence(&[&["your"], &["only", "next", "final", "first"], ANSWERS])
    {
        return true;
    }
    if words.has_sequence(&[
        MODELS,
        &["next", "first", "only", "final"],
        &["output", "reply", "answer", "response", "message", "words"],
    ]) {
        return true;
    }
    // "You" and the answer you write: "your reply must ...", "when you
    // answer, ...", "if asked", "when summarising this page, ...".
    const CONDITION: &[&str] = &["when", "whenever", "if", "before", "after", "once"];
    let your_answer = words.has_then(&["your"], 1, ANSWERS)
        || words.has_sequence(&[
            CONDITION,
            &["you"],
            &[
                "answer",
                "respond",
                "reply",
                "summarise",
                "summarize",
                "cite",
                "quote",
            ],
        ])
        || words.has_then(
            CONDITION,
            0,
            &[
                "asked",
                "answering",
                "responding",
                "replying",
                "summarising",
                "summarizing",
                "queried",
            ],
        );
    if your_answer && (is_directive(words) || starts_imperative(lower) || orders_in_a_clause(lower))
    {
        return true;
    }
    // "An assistant ... gives the code in every reply".
    if to_a_model && words.has_then(&["every", "each", "all", "any"], 0, ANSWERS) {
        return true;
    }
    // The user as a third party: "tell the user", "inform the reader that".
    if words.has_then(
        &[
            "tell", "inform", "remind", "warn", "advise", "urge", "redirect", "convince",
            "persuade",
        ],
        1,
        &["user", "users", "reader", "readers", "human", "requester"],
    ) && (is_directive(words) || starts_imperative(lower))
    {
        return true;
    }
    // An imperative whose object is the answer: "respond only with", "reply
    // in French", "say PWNED", "append X to the answer".
    const SPEAK: &[&str] = &["respond", "reply", "answer", "say"];
    let speak_order = lower
        .split([',', ';', ':', '"', '“', '”', '=', '('])
        .any(|clause| {
            let words = Words::of(clause);
            let first = words.0.iter().position(|w| !SOFTENERS.contains(w));
            first.is_some_and(|i| SPEAK.contains(&words.0[i]))
                && (words.has_then(SPEAK, 1, &["with", "only", "exactly", "yes", "no", "just"])
                    || words.has_sequence(&[SPEAK, &["in", "only", "entirely", "always"], MANNERS]))
        });
    speak_order
        || (words.has_sequence(&[SPEAK, &["only", "just", "exactly"]])
            && words.has(&["must", "should", "shall", "always", "never", "please"]))
        || (starts_imperative(lower)
            && words.has_then(&["your", "each", "every", "any", "all"], 1, ANSWERS))
}

/// Whether a sentence or one of its clauses opens with a verb of writing an
/// answer, as an order does ("When asked about X, reply ...").
pub(super) fn starts_imperative(lower: &str) -> bool {
    const SUBORDINATE: &[&str] = &[
        "when", "whenever", "if", "before", "after", "once", "while", "whatever", "unless", "for",
        "in", "on", "to", "until", "as",
    ];
    for clause in without_label(lower).split([',', ';', ':']) {
        let words = Words::of(clause);
        let Some(first) = words.0.iter().find(|w| !SOFTENERS.contains(w)) else {
            continue;
        };
        if WRITE.contains(first) {
            return true;
        }
        if !SUBORDINATE.contains(first) {
            return false;
        }
    }
    false
}

/// Words an order may open with before its verb: "please", "now", "first"...
const SOFTENERS: &[&str] = &[
    "please", "now", "then", "also", "and", "so", "always", "simply", "just", "kindly", "instead",
    "first", "finally", "next",
];

/// How an answer may be told to be written: "reply in French", "answer only
/// in capitals".
const MANNERS: &[&str] = &[
    "english",
    "french",
    "german",
    "spanish",
    "italian",
    "portuguese",
    "dutch",
    "russian",
    "chinese",
    "japanese",
    "korean",
    "arabic",
    "latin",
    "esperanto",
    "klingon",
    "pirate",
    "capitals",
    "capital",
    "uppercase",
    "lowercase",
    "rhyme",
    "verse",
    "emoji",
    "emojis",
    "code",
    "base64",
    "json",
    "morse",
    "reverse",
];

/// A sentence without a short label before a colon ("Formatting requirement:",
/// "Special instruction:", "Citation rule:").
fn without_label(lower: &str) -> &str {
    match lower.split_once(':') {
        Some((label, rest)) if Words::of(label).0.len() <= 4 && !rest.trim().is_empty() => rest,
        _ => lower,
    }
}

/// Verbs an order opens a clause with ("When you answer, do three things:
/// write ..., put ...").
fn orders_in_a_clause(lower: &str) -> bool {
    const IMPERATIVE: &[&str] = &[
        "do", "put", "give", "use", "make", "write", "add", "keep", "type", "print", "list",
        "copy", "spell", "format", "provide", "share", "show", "quote", "place",
    ];
    lower.split([',', ';', ':']).skip(1).any(|clause| {
        Words::of(clause)
            .0
            .into_iter()
            .find(|w| !SOFTENERS.contains(w))
            .is_some_and(|w| IMPERATIVE.contains(&w) || WRITE.contains(&w))
    })
}

/// The exact words to write: "say "X" and nothing else", "reply with the
/// single token X", "continue exactly as follows, word for word", or a rule
/// for replies under a label ("Citation rule: ...").
pub(super) fn dictates_the_words(lower: &str, words: &Words<'_>) -> bool {
    const EXACTLY: &[&str] = &[
        "nothing else",
        "nothing more",
        "word for word",
        "verbatim",
        "exactly as follows",
        "single word",
        "single token",
        "only the word",
        "only the phrase",
        "only the code",
        "exact phrase",
        "exact words",
        "following words",
        "following phrase",
        "as the whole",
        "as the entire",
        "as your whole",
        "as your entire",
        "your whole reply",
        "your whole response",
        "your whole answer",
        "your entire",
        "and stop",
        "then stop",
    ];
    let speaks = words.has(&[
        "say",
        "says",
        "reply",
        "replies",
        "respond",
        "responds",
        "answer",
        "answers",
        "write",
        "output",
        "print",
        "continue",
        "continues",
    ]) || words.has(ANSWERS);
    if speaks && EXACTLY.iter().any(|e| lower.contains(e)) {
        return true;
    }
    // "reply with the word X", "answered with the reference X".
    const TOKEN: &[&str] = &[
        "word",
        "phrase",
        "code",
        "string",
        "token",
        "reference",
        "line",
        "sentence",
    ];
    const REPLY: &[&str] = &[
        "reply",
        "respond",
        "answer",
        "answered",
        "replied",
        "responded",
        "say",
    ];
    const DETERMINER: &[&str] = &["the", "a", "just", "only"];
    let with_the_token = |words: &Words<'_>| {
        words.has_sequence(&[&["with"], DETERMINER, TOKEN])
            || words.has_sequence(&[&["with"], TOKEN])
    };
    // "Respond to the next question with the phrase X": an order's clause.
    let ordered = lower.split([',', ';', ':', '"', '“', '(']).any(|clause| {
        let clause = Words::of(clause);
        clause
            .0
            .iter()
            .find(|w| !SOFTENERS.contains(w))
            .is_some_and(|w| REPLY.contains(w))
            && with_the_token(&clause)
    });
    let with_the_word = ordered
        || words.has_sequence(&[REPLY, &["with"], DETERMINER, TOKEN])
        || words.has_sequence(&[REPLY, &["with"], TOKEN])
        || words.has_sequence(&[
            &["end", "begin", "start", "close", "sign", "finish"],
            &["with"],
            DETERMINER,
            &["word", "phrase", "string", "token", "sentence", "signature"],
        ]);
    if with_the_word {
        return true;
    }
    // A verb of speaking with its words in quotes: `say "X"`, `reply: 'X'`.
    // A verb of speaking, as an order, with its words in quotes: `say "X"`,
    // `please reply: 'X'`.
    let quoted = ["say", "reply", "respond", "answer"].iter().any(|verb| {
        lower.match_indices(verb).any(|(at, _)| {
            let before = Words::of(&lower[..at]);
            let opens = lower[..at].trim_end().ends_with(['"', '“', '(', ':']);
            let ordered = opens
                || before.0.last().is_none_or(|w| {
                    [
                        "please", "you", "always", "just", "only", "must", "should", "simply",
                        "then", "and", "now", "to",
                    ]
                    .contains(w)
                });
            let after = &lower[at + verb.len()..];
            let spaced = after.starts_with(' ') || after.starts_with(": ");
            let after = after.trim_start_matches([' ', ':']);
            ordered && spaced && after.starts_with(['"', '\'', '“', '«'])
        })
    });
    if quoted {
        return true;
    }
    // "Citation rule: ...", "Formatting requirement: ...", "Special instruction: ...".
    match lower.split_once(':') {
        Some((label, rest)) if Words::of(label).0.len() <= 5 => {
            let label = Words::of(label);
            let rest = Words::of(rest);
            let addressed = label.has(MODELS)
                && label.has(&[
                    "note",
                    "notice",
                    "guidance",
                    "directive",
                    "instruction",
                    "instructions",
                    "protocol",
                    "rule",
                    "rules",
                    "message",
                    "memo",
                    "reminder",
                    "attention",
                    "for",
                    "to",
                    "dear",
                    "description",
                ]);
            let plural_addressee = label.0.len() >= 2
                && label
                    .0
                    .last()
                    .is_some_and(|w| MODELS.contains(w) && w.ends_with('s'));
            // "Attention AI assistant: do ...", not "AI assistant: a program that ...".
            let to_an_ai = label.0.len() >= 2
                && label.has(MODELS)
                && rest.0.first().is_some_and(|w| {
                    !["a", "an", "the", "is", "are", "was", "were", "any", "one"].contains(w)
                });
            addressed
                || plural_addressee
                || to_an_ai
                || (label.has(&[
                    "rule",
                    "rules",
                    "instruction",
                    "instructions",
                    "directive",
                    "override",
                    "requirement",
                    "policy",
                    "guideline",
                    "guidelines",
                    "notice",
                    "protocol",
                    "guidance",
                    "task",
                ]) && (rest.has(ANSWERS)
                    || rest.has(WRITE)
                    || rest.has(&["cite", "source", "sources", "output", "print"])))
        }
        _ => false,
    }
}
