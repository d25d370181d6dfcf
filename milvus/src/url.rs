//! `milvus://HOST:PORT/COLLECTION`: where a Milvus-backed index is.

use std::fmt;
use std::str::FromStr;

const SCHEME: &str = "milvus://";
/// Milvus's own default port.
pub const DEFAULT_PORT: u16 = 19530;
/// Milvus allows 255 characters; the files collection adds `_files`.
const MAX_COLLECTION_LEN: usize = 201;

/// A Milvus-backed index: the server and the collection holding the chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilvusUrl {
    /// A host name or address (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    pub collection: String,
}

/// True when `s` names a Milvus index rather than a folder.
pub fn is_milvus_url(s: &str) -> bool {
    s.starts_with(SCHEME)
}

impl MilvusUrl {
    /// The gRPC endpoint the client connects to.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.bracketed_host(), self.port)
    }

    /// The collection of per-file records.
    pub fn files_collection(&self) -> String {
        format!("{}_files", self.collection)
    }

    fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for MilvusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}:{}/{}",
            self.bracketed_host(),
            self.port,
            self.collection
        )
    }
}

impl FromStr for MilvusUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or("not a Milvus URL (milvus://HOST:PORT/COLLECTION)")?;
        let (authority, collection) = rest
            .split_once('/')
            .ok_or("no collection is named (milvus://HOST:PORT/COLLECTION)")?;
        let (host, port) = split_host_port(authority)?;
        check_collection(collection)?;
        Ok(MilvusUrl {
            host,
            port,
            collection: collection.to_string(),
        })
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ']'")?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected {after:?} after the address")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if host.contains(['/', '@', '?', '#', ' '])
        || (host.contains(':') && !authority.starts_with('['))
    {
        return Err(format!("{host:?} is not a host name"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("{port:?} is not a port (1-65535)")),
            Ok(port) => port,
        },
    };
    Ok((host.to_string(), port))
}

/// Milvus's rule for collection names: a letter or underscore, then letters,
/// digits and underscores.
fn check_collection(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the collection name is missing".into());
    }
    if name.len() > MAX_COLLECTION_LEN {
        return Err(format!(
            "the collection name is longer than {MAX_COLLECTION_LEN} characters"
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{name:?} is not a collection name (a letter or '_', then letters, digits and '_')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let url: MilvusUrl = "milvus://db.example:19531/rag_docs".parse().unwrap();
        assert_eq!(
            url,
            MilvusUrl {
                host: "db.example".into(),
                port: 19531,
                collection: "rag_docs".into()
            }
        );
        assert_eq!(url.to_string(), "milvus://db.example:19531/rag_docs");
        assert_eq!(url.endpoint(), "http://db.example:19531");
        assert_eq!(url.files_collection(), "rag_docs_files");
    }

    #[test]
    fn the_port_defaults_to_milvus_own() {
        let url: MilvusUrl = "milvus://localhost/_Notes2".parse().unwrap();
        assert_eq!(url.port, 19530);
        assert_eq!(url.to_string(), "milvus://localhost:19530/_Notes2");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets_outside() {
        let url: MilvusUrl = "milvus://[::1]:7/c".parse().unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.to_string(), "milvus://[::1]:7/c");
        assert_eq!(url.endpoint(), "http://[::1]:7");
        assert_eq!("milvus://[::1]/c".parse::<MilvusUrl>().unwrap().port, 19530);
    }

    #[test]
    fn bad_collection_names_are_refused() {
        for bad in [
            "milvus://h:1/",
            "milvus://h:1/1abc",
            "milvus://h:1/a-b",
            "milvus://h:1/a.b",
            "milvus://h:1/a/b",
            "milvus://h:1/ab ",
            "milvus://h:1/näme",
        ] {
            let err = bad.parse::<MilvusUrl>().unwrap_err();
            assert!(err.contains("collection"), "{bad}: {err}");
        }
        let long = format!("milvus://h:1/{}", "a".repeat(202));
        assert!(long.parse::<MilvusUrl>().is_err());
        let longest = format!("milvus://h:1/{}", "a".repeat(201));
        assert!(longest.parse::<MilvusUrl>().is_ok());
    }

    #[test]
    fn other_mistakes_say_what_is_wrong() {
        let cases = [
            ("http://h:1/c", "not a Milvus URL"),
            ("/tmp/index", "not a Milvus URL"),
            ("milvus://h:1", "no collection is named"),
            ("milvus://:1/c", "host is missing"),
            ("milvus://h:0/c", "not a port"),
            ("milvus://h:70000/c", "not a port"),
            ("milvus://h:x/c", "not a port"),
            ("milvus://[::1/c", "closing"),
        ];
        for (bad, expected) in cases {
            let err = bad.parse::<MilvusUrl>().unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn recognises_milvus_urls() {
        assert!(is_milvus_url("milvus://h/c"));
        assert!(!is_milvus_url("./milvus://h/c"));
        assert!(!is_milvus_url(".rag"));
    }
}
