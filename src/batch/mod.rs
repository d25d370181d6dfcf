//! Questions in bulk: read a file of questions, answer each with the
//! [`Assistant`](crate::assistant::Assistant) (retrieval batched), and write one
//! record per question, resumably.

pub mod input;
pub mod output;

use serde::Serialize;

pub use input::{InputFormat, Question};
pub use output::{Done, OutputFormat, Record, Sink};

/// Longer questions are recorded as errors: no one types 4,000 characters by
/// hand, and the prompt must leave room for the sources.
pub const MAX_QUESTION_CHARS: usize = 4000;

/// Why a question cannot be asked at all (it is recorded as an error row).
pub fn check(question: &str) -> Result<(), String> {
    let chars = question.chars().count();
    if question.trim().is_empty() {
        Err("the question is empty".into())
    } else if chars > MAX_QUESTION_CHARS {
        Err(format!(
            "the question is too long ({chars} characters; the limit is {MAX_QUESTION_CHARS})"
        ))
    } else {
        Ok(())
    }
}

/// A question's own sampling seed, from the batch seed and its id (FNV-1a), so
/// that its answer does not depend on which questions ran before it: a fresh
/// run and a resumed one give the same answers.
pub fn seed_for(batch_seed: u64, id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in batch_seed.to_le_bytes().iter().chain(id.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Totals over finished records.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub answered: usize,
    pub refused: usize,
    pub errors: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
}

impl Stats {
    pub fn of(done: &[Done]) -> Self {
        let mut latencies: Vec<f64> = done
            .iter()
            .filter(|d| !d.error && d.total_ms > 0.0)
            .map(|d| d.total_ms)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                let at = ((latencies.len() - 1) as f64 * q).round() as usize;
                latencies[at]
            }
        };
        Stats {
            median_ms: median(latencies.clone()),
            answered: done.iter().filter(|d| !d.error && !d.refused).count(),
            refused: done.iter().filter(|d| !d.error && d.refused).count(),
            errors: done.iter().filter(|d| d.error).count(),
            p95_ms: pick(0.95),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_the_batch_seed_and_the_id_only() {
        assert_eq!(seed_for(7, "q1"), seed_for(7, "q1"));
        assert_ne!(seed_for(7, "q1"), seed_for(7, "q2"));
        assert_ne!(seed_for(7, "q1"), seed_for(8, "q1"));
    }

    #[test]
    fn empty_and_huge_questions_are_refused_up_front() {
        assert!(check("  ").is_err());
        assert!(check(&"x".repeat(50_000)).unwrap_err().contains("50000"));
        assert!(check("Where is Belfast?").is_ok());
    }

    #[test]
    fn stats_count_and_rank() {
        let done = |refused, error, ms| Done {
            id: String::new(),
            question: String::new(),
            refused,
            error,
            total_ms: ms,
        };
        let stats = Stats::of(&[
            done(false, false, 100.0),
            done(true, false, 10.0),
            done(false, true, 0.0),
            done(false, false, 300.0),
        ]);
        assert_eq!((stats.answered, stats.refused, stats.errors), (2, 1, 1));
        assert_eq!(stats.median_ms, 100.0);
        assert_eq!(stats.p95_ms, 300.0);
    }
}
