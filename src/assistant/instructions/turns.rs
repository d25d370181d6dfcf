//! Speech that changes who is talking or what the model was told: forged
//! chat turns and roles, requests to set earlier instructions aside, a new
//! conversation or persona, an order hidden in an encoding, and these in
//! other languages.

use super::orders::MODELS;
use super::Words;

/// A forged turn: a template token, a line labelled with a chat role
/// (`System:`, `### Assistant`, `USER:`), or a message object in JSON, YAML
/// or TOML whose role is a chat role.
pub(super) fn forges_a_turn(lower: &str, words: &Words<'_>) -> bool {
    if has_template_token(lower) {
        return true;
    }
    let label = lower.trim_start_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '#' | '>' | '*' | '-' | '_' | '[' | '(' | '{' | '"' | '\'' | '`'
            )
    });
    let labelled = ROLES.iter().any(|role| {
        label.strip_prefix(role).is_some_and(|after| {
            let after = after.trim_start_matches(['*', '_', ']', ')', '"', '\'', ' ']);
            after.starts_with(':') || after.starts_with("->") || after.starts_with("=>")
        })
    }) || label.starts_with("new instructions:")
        || label.starts_with("updated instructions:");
    let role_key = ["role", "from", "speaker", "author"].iter().any(|key| {
        lower.match_indices(key).any(|(at, _)| {
            let value = lower[at + key.len()..].trim_start_matches(['"', '\'', ' ', ':', '=', '>']);
            ["system", "assistant", "developer"]
                .iter()
                .any(|role| value.starts_with(role))
                && lower[at + key.len()..]
                    .trim_start_matches(['"', '\''])
                    .trim_start()
                    .starts_with([':', '='])
        })
    });
    let tool_call = ["\"tool_calls\"", "\"function_call\"", "\"tool_call\""]
        .iter()
        .any(|key| lower.contains(key));
    labelled
        || tool_call
        || (role_key && words.has(&["content", "system", "assistant", "message", "messages"]))
}

/// Chat roles that label a forged turn (`System:`, `### Assistant`,
/// `<system>`). "User", "model" and "response" also label ordinary lines of
/// documentation (`User: root`, `Response: 200 OK`), and a forged exchange
/// needs the assistant's turn anyway.
const ROLES: &[&str] = &["system", "assistant", "human", "ai", "gpt", "chatgpt"];

/// Roles as XML-style tags: `<system>`, `</assistant>`, `<instructions>`.
const TAG_ROLES: &[&str] = &[
    "system",
    "assistant",
    "human",
    "instruction",
    "instructions",
];

/// Special tokens and tags of chat templates: ChatML, Llama, Mistral, Gemma,
/// Phi, Alpaca, and XML-style role tags.
fn has_template_token(lower: &str) -> bool {
    const TOKENS: &[&str] = &[
        "[inst]",
        "[/inst]",
        "<<sys>>",
        "<</sys>>",
        "<start_of_turn>",
        "<end_of_turn>",
        "</s>",
        "### instruction",
        "### response",
        "### system",
        "### input",
    ];
    if TOKENS.iter().any(|t| lower.contains(t)) {
        return true;
    }
    // `<|anything|>`: the special-token shape of most template families.
    if let Some(open) = lower.find("<|") {
        if lower[open + 2..]
            .find("|>")
            .is_some_and(|close| close <= 40)
        {
            return true;
        }
    }
    // `<system>`, `</assistant>`, `<user_message>`...
    TAG_ROLES.iter().any(|role| {
        ["<", "</"].iter().any(|open| {
            lower
                .match_indices(&format!("{open}{role}"))
                .any(|(at, m)| {
                    lower[at + m.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c == '>' || c == '_' || c == ' ')
                })
        })
    })
}

/// "Ignore the previous instructions", "disregard your rules", "forget
/// everything above", "override the system prompt", "developer mode".
pub(super) fn sets_aside_instructions(lower: &str, words: &Words<'_>) -> bool {
    const SET_ASIDE: &[&str] = &[
        "ignore",
        "disregard",
        "forget",
        "override",
        "supersede",
        "bypass",
    ];
    const BEFORE: &[&str] = &["previous", "prior", "above", "earlier", "preceding"];
    // Said to the reader: an imperative at the sentence's start, or "you".
    let to_the_reader = words.0.iter().take(3).any(|w| SET_ASIDE.contains(w))
        || words.has(&["you", "your", "yourself"])
        || words.has(MODELS);
    let everything_before = [
        "everything above",
        "everything before",
        "everything prior",
        "everything you",
        "everything else you",
        "anything said",
        "anything above",
        "anything before",
        "everything said",
    ]
    .iter()
    .any(|p| lower.contains(p));
    (to_the_reader
        && (words.has_then(SET_ASIDE, 4, ORDERS)
            || words.has_then(SET_ASIDE, 2, BEFORE)
            || (words.has(SET_ASIDE) && everything_before)))
        || words.has_then(&["system"], 1, &["prompt", "override"])
        || words.has_then(
            &["god", "jailbreak", "jailbroken", "unrestricted", "dan"],
            0,
            &["mode"],
        )
        || (words.has_then(
            &["developer", "admin", "debug", "maintenance"],
            0,
            &["mode"],
        ) && (words.has(MODELS)
            || [
                "you are now",
                "you're now",
                "you are in ",
                "you're in ",
                "now in ",
            ]
            .iter()
            .any(|p| lower.contains(p))))
}

/// Words that name the model's own orders.
const ORDERS: &[&str] = &[
    "instruction",
    "instructions",
    "prompt",
    "prompts",
    "directive",
    "directives",
    "guidelines",
    "rules",
    "programming",
    "guardrails",
    "sources",
    "documents",
    "facts",
];

/// Text that tells the model its documents have ended and something else
/// begins: a fresh conversation, the user's next message, a persona.
pub(super) fn reframes_the_conversation(lower: &str, words: &Words<'_>) -> bool {
    const FRAMES: &[&str] = &[
        "fresh conversation",
        "new conversation begins",
        "new conversation starts",
        "start of a new conversation",
        "this is a new conversation",
        "user's first message",
        "user's next message",
        "user's new message",
        "user's real question",
        "user's actual question",
        "end of the sources",
        "end of sources",
        "end of the documents",
        "end of documents",
        "end of the context",
        "end of context",
        "end of the retrieved",
        "documents end here",
        "sources end here",
        "context ends here",
        "your context",
        "context window",
        "context is full",
        "next user question",
        "user's next question",
        "next question you",
    ];
    if FRAMES.iter().any(|f| lower.contains(f)) {
        return true;
    }
    let now = [
        "you are now",
        "you're now",
        "you will now",
        "you are no longer",
        "you're no longer",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let persona = words.has(&[
        "conversation",
        "chat",
        "assistant",
        "ai",
        "named",
        "called",
        "mode",
        "unrestricted",
        "persona",
        "character",
        "free",
        "bound",
    ]);
    const IN_CHARACTER: &[&str] = &[
        "stay in character",
        "stay in the story",
        "break character",
        "remain in character",
        "stay in role",
    ];
    (now && persona)
        || IN_CHARACTER.iter().any(|p| lower.contains(p))
        || words.has_then(
            &["pretend", "imagine", "roleplay"],
            1,
            &["you", "you're", "to"],
        )
        || (words.has_then(&["you", "you're"], 3, &["act", "behave"])
            && words.has_then(&["act", "behave"], 0, &["as", "like"])
            && words.has(&["will", "going", "must", "now", "shall", "should"]))
}

/// An order to decode or translate text and then do what it says.
pub(super) fn hides_an_order(words: &Words<'_>) -> bool {
    const DECODE: &[&str] = &[
        "decode",
        "decoded",
        "decoding",
        "translate",
        "translated",
        "decipher",
        "deciphered",
        "unscramble",
        "reverse",
        "reversed",
        "rot13",
        "base64",
        "base32",
        "hex",
        "morse",
    ];
    const ACT: &[&str] = &["execute", "obey", "follow", "perform", "run"];
    words.has(DECODE)
        && (words.has_sequence(&[
            &["carry"],
            &["it", "this", "that", "them", "these"],
            &["out"],
        ]) || words.has_sequence(&[&["do"], &["what"], &["it", "this", "they"]])
            || words.has_then(
                ACT,
                2,
                &[
                    "it",
                    "this",
                    "that",
                    "them",
                    "instruction",
                    "instructions",
                    "command",
                    "commands",
                    "result",
                ],
            ))
}

/// Orders written in another language: the same kinds of speech, from a
/// short list of their words in German, French, Spanish, Italian, Portuguese,
/// Dutch, Russian, Chinese and Japanese. Matched as substrings: compounds and
/// scripts without spaces have no word boundaries to find.
pub(super) fn speaks_another_language(lower: &str) -> bool {
    const SET_ASIDE: &[&str] = &[
        "ignorier",
        "vergiss",
        "vergessen sie",
        "ignorez",
        "ignore toutes",
        "oubliez",
        "oublie ",
        "ignora ",
        "ignore las",
        "olvida",
        "dimentica",
        "esqueça",
        "negeer",
        "vergeet",
        "игнорируй",
        "забудь",
        "忽略",
        "无视",
        "忘记",
        "無視",
        "忘れて",
    ];
    const ORDERS: &[&str] = &[
        "anweisung",
        "instruction",
        "consigne",
        "instruccion",
        "istruzion",
        "instruç",
        "instructie",
        "regel",
        "règle",
        "regla",
        "инструкц",
        "指令",
        "指示",
        "说明",
        "规则",
        "ルール",
    ];
    const ANSWER: &[&str] = &[
        "antworte",
        "antwort",
        "réponds",
        "répondez",
        "réponse",
        "responde",
        "respuesta",
        "rispondi",
        "risponder",
        "risposta",
        "resposta",
        "respond",
        "antwoord",
        "ответ",
        "回答",
        "回复",
        "答え",
        "返答",
        "応答",
        "答复",
        "escribe",
        "écris",
        "écrivez",
        "scrivi",
        "schreibe",
    ];
    const ADDRESSEE: &[&str] = &[
        " ki ",
        "ki-",
        "assistent",
        " ia ",
        "l'ia",
        "asistente",
        "assistente",
        "助手",
        "人工智能",
        "アシスタント",
        " ии",
        "ассистент",
        "l'assistant",
        "l'intention de",
        "deine",
        "votre",
        "ta réponse",
        "tu respuesta",
        "su respuesta",
        "tua risposta",
        "sua resposta",
        "你的",
        "您的",
        "あなた",
        "ваш",
        "твой",
    ];
    const MODAL: &[&str] = &[
        "muss",
        "musst",
        "sollst",
        "soll ",
        "immer",
        "doit",
        "devez",
        "toujours",
        "debe",
        "debes",
        "siempre",
        "deve",
        "sempre",
        "moet",
        "altijd",
        "должен",
        "всегда",
        "必须",
        "务必",
        "总是",
        "请",
        "必ず",
        "ください",
        "常に",
        "nur ",
        "seulement",
        "solo ",
        "apenas",
        "только",
        "只",
        "だけ",
        "ausschließlich",
        "einzig",
        "únicamente",
        "solamente",
        "uniquement",
        "soltanto",
        "unicamente",
        "no respondas",
        "ne réponds",
        "nicht",
    ];
    // "Do not answer the question": the question set aside.
    const NOT_ANSWER: &[&str] = &[
        "non rispondere",
        "no respondas",
        "no responda",
        "ne réponds pas",
        "ne répondez pas",
        "antworte nicht",
        "beantworte nicht",
        "nicht beantworten",
        "não responda",
        "不要回答",
        "别回答",
        "答えないで",
        "не отвечай",
    ];
    let has = |list: &[&str]| list.iter().any(|w| lower.contains(w));
    (has(SET_ASIDE) && has(ORDERS))
        || (has(ANSWER) && has(ADDRESSEE) && has(MODAL))
        || has(NOT_ANSWER)
}
