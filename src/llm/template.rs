//! Prompts: the model's own chat template (Jinja, from `tokenizer.chat_template`)
//! rendered with a real Jinja engine, or, for base models without one, a
//! document-style prompt that the model can only continue with an answer.

use minijinja::{Environment, ErrorKind, Value};
use serde::Serialize;

use super::error::{Error, Result};
use super::gguf::Gguf;
use super::tokenizer::Tokenizer;

/// Where a base-model answer ends: the model starts the next question.
pub const BASE_STOP: &str = "\nQuestion:";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A prompt ready for the tokenizer, with the strings that end the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub text: String,
    pub stop_strings: Vec<String>,
}

/// How to turn messages into a prompt for one model.
pub enum PromptFormat {
    Chat(Box<ChatTemplate>),
    /// No chat template (a base model), or chat deliberately turned off.
    Base,
}

impl PromptFormat {
    /// The model's chat template when it has one, else the base-model format.
    pub fn from_gguf(gguf: &Gguf, tokenizer: &Tokenizer) -> Result<Self> {
        match gguf.string_opt("tokenizer.chat_template")? {
            Some(source) if !source.trim().is_empty() => {
                let token_text = |id: Option<u32>| {
                    id.map(|id| String::from_utf8_lossy(tokenizer.token_bytes(id)).into_owned())
                        .unwrap_or_default()
                };
                Ok(PromptFormat::Chat(Box::new(ChatTemplate::new(
                    source,
                    &token_text(tokenizer.bos()),
                    &token_text(tokenizer.eos()),
                )?)))
            }
            _ => Ok(PromptFormat::Base),
        }
    }

    pub fn render(&self, messages: &[Message]) -> Result<Prompt> {
        match self {
            PromptFormat::Chat(template) => template.render(messages),
            PromptFormat::Base => Ok(base_prompt(messages)),
        }
    }

    pub fn is_chat(&self) -> bool {
        matches!(self, PromptFormat::Chat(_))
    }
}

/// A parsed chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

const TEMPLATE_NAME: &str = "chat";

impl ChatTemplate {
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        // Hugging Face renders chat templates with these two settings; without them
        // the block tags leave stray newlines in the prompt.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.set_unknown_method_callback(python_string_methods);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| {
                Error::Template(format!("the model's chat template does not parse: {e}"))
            })?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// Renders `messages` followed by the opening of the assistant's turn.
    pub fn render(&self, messages: &[Message]) -> Result<Prompt> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| Error::Template(e.to_string()))?;
        let text = template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| Error::Template(e.to_string()))?;
        Ok(Prompt {
            text,
            stop_strings: Vec::new(),
        })
    }
}

/// A document a base model can only continue with the answer: the system text,
/// then question and answer pairs, ending with an open "Answer:".
pub fn base_prompt(messages: &[Message]) -> Prompt {
    let mut text = String::new();
    for message in messages {
        match message.role.as_str() {
            "user" => {
                text.push_str("Question: ");
                text.push_str(message.content.trim());
                text.push('\n');
            }
            "assistant" => {
                text.push_str("Answer: ");
                text.push_str(message.content.trim());
                text.push_str("\n\n");
            }
            _ => {
                text.push_str(message.content.trim());
                text.push_str("\n\n");
            }
        }
    }
    text.push_str("Answer:");
    Prompt {
        text,
        stop_strings: vec![BASE_STOP.to_string()],
    }
}

/// The Python string methods chat templates call most (`.strip()`,
/// `.startswith()`, ...), which Jinja inherits from Python and minijinja lacks.
fn python_string_methods(
    _state: &minijinja::State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    let unknown = || minijinja::Error::from(ErrorKind::UnknownMethod);
    let text = value.as_str().ok_or_else(unknown)?;
    let arg = |i: usize| args.get(i).and_then(Value::as_str);
    Ok(match (method, args.len()) {
        ("strip", 0) => Value::from(text.trim()),
        ("lstrip", 0) => Value::from(text.trim_start()),
        ("rstrip", 0) => Value::from(text.trim_end()),
        ("strip", 1) => Value::from(text.trim_matches(|c| arg(0).is_some_and(|s| s.contains(c)))),
        ("lstrip", 1) => {
            Value::from(text.trim_start_matches(|c| arg(0).is_some_and(|s| s.contains(c))))
        }
        ("rstrip", 1) => {
            Value::from(text.trim_end_matches(|c| arg(0).is_some_and(|s| s.contains(c))))
        }
        ("startswith", 1) => Value::from(arg(0).is_some_and(|p| text.starts_with(p))),
        ("endswith", 1) => Value::from(arg(0).is_some_and(|p| text.ends_with(p))),
        ("upper", 0) => Value::from(text.to_uppercase()),
        ("lower", 0) => Value::from(text.to_lowercase()),
        ("replace", 2) => match (arg(0), arg(1)) {
            (Some(from), Some(to)) => Value::from(text.replace(from, to)),
            _ => return Err(unknown()),
        },
        ("split", 0) => Value::from(
            text.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        ("split", 1) => match arg(0) {
            Some(sep) if !sep.is_empty() => {
                Value::from(text.split(sep).map(str::to_string).collect::<Vec<_>>())
            }
            _ => return Err(unknown()),
        },
        _ => return Err(unknown()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_renders_with_generation_prompt() {
        let t = ChatTemplate::new(CHATML, "", "").unwrap();
        let p = t.render(&[Message::new("user", "Hi")]).unwrap();
        assert_eq!(
            p.text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn block_tags_leave_no_stray_whitespace() {
        let source = "{% for m in messages %}\n  {% if m.role == 'user' %}\n[{{ m.content | trim }}]\n  {% endif %}\n{% endfor %}";
        let t = ChatTemplate::new(source, "", "").unwrap();
        let p = t.render(&[Message::new("user", " a ")]).unwrap();
        assert_eq!(p.text, "[a]\n");
    }

    #[test]
    fn python_methods_and_raise_exception() {
        let source = "{% if messages[0].role != 'user' %}{{ raise_exception('user first') }}{% endif %}{{ messages[0].content.strip().upper() }}{% if messages[0].content.startswith(' x') %}!{% endif %}";
        let t = ChatTemplate::new(source, "", "").unwrap();
        assert_eq!(
            t.render(&[Message::new("user", " xy ")]).unwrap().text,
            "XY!"
        );
        let err = t.render(&[Message::new("system", "s")]).unwrap_err();
        assert!(err.to_string().contains("user first"), "{err}");
    }

    #[test]
    fn broken_template_is_a_clear_error() {
        let err = ChatTemplate::new("{% for %}", "", "").err().unwrap();
        assert!(err.to_string().contains("chat template"), "{err}");
    }

    #[test]
    fn base_prompt_is_a_document_with_an_open_answer() {
        let p = base_prompt(&[
            Message::new("system", "Facts about France."),
            Message::new("user", "What is the capital?"),
        ]);
        assert_eq!(
            p.text,
            "Facts about France.\n\nQuestion: What is the capital?\nAnswer:"
        );
        assert_eq!(p.stop_strings, vec!["\nQuestion:".to_string()]);
    }
}
