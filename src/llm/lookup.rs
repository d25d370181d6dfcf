//! Drafts for prompt-lookup decoding. An answer from sources copies their
//! words: once its last few tokens match a span of the prompt, the tokens
//! that followed that span are a good guess at what comes next. The guess
//! costs no second model; the generator checks it in one pass over the
//! weights (`Model::forward_each`) and keeps the tokens the model would
//! have chosen anyway, so the output is the same as without it.
//!
//! Whether a guess pays depends on the machine: each drafted token is one
//! more row through every weight matrix, which costs little where decode
//! waits on memory and the cores have arithmetic to spare, and nearly as much
//! as a token of its own where they do not. So [`Drafting`] measures both
//! what a pass costs per row and how often drafts of each kind are taken,
//! and drafts only as many tokens as are expected to save time.

/// The longest and shortest run of last tokens looked up. Longer runs
/// match more surely; a single token ("the", ",") matches everywhere.
const LONGEST_RUN: usize = 4;
const SHORTEST_RUN: usize = 2;
/// Drafted positions told apart by the statistics.
const POSITIONS: usize = 10;
/// Weight of a new observation in the running averages.
const LEARNING_RATE: f64 = 0.15;
/// What a draft position is believed to be taken with before it was seen.
const FIRST_GUESS: f64 = 0.5;
/// When no draft looks worth it, one token is still drafted this often, so
/// that the statistics follow a change (an answer that starts quoting).
const EXPLORE_EVERY: u32 = 8;

/// A guess at the next tokens: what followed the matching run, and how
/// long the run was.
pub struct Draft<'a> {
    pub tokens: &'a [u32],
    pub run: usize,
}

/// Up to `limit` tokens guessed to follow `tokens`: those after the latest
/// earlier occurrence of its longest final run (of [`LONGEST_RUN`] down to
/// [`SHORTEST_RUN`] tokens) that is followed by anything. Empty when no run
/// recurs.
pub fn draft(tokens: &[u32], limit: usize) -> Draft<'_> {
    let none = Draft {
        tokens: &[],
        run: 0,
    };
    if limit == 0 {
        return none;
    }
    for run in (SHORTEST_RUN..=LONGEST_RUN.min(tokens.len().saturating_sub(1))).rev() {
        let tail = &tokens[tokens.len() - run..];
        // Latest first: the answer's own words, then the nearest source.
        let found = (0..tokens.len() - run)
            .rev()
            .find(|&at| &tokens[at..at + run] == tail);
        if let Some(at) = found {
            let from = at + run;
            return Draft {
                tokens: &tokens[from..tokens.len().min(from + limit)],
                run,
            };
        }
    }
    none
}

/// What drafting has cost and gained so far, for one model on this machine.
#[derive(Debug, Clone)]
pub struct Drafting {
    /// Seconds of a pass of one row, and what each further row adds.
    one_row: Option<f64>,
    per_row: Option<f64>,
    /// Per matching run length and drafted position: how often the token
    /// there was taken, given that the ones before it were.
    taken: [[f64; POSITIONS]; LONGEST_RUN - SHORTEST_RUN + 1],
    passed_over: u32,
}

impl Default for Drafting {
    fn default() -> Self {
        Drafting {
            one_row: None,
            per_row: None,
            taken: [[FIRST_GUESS; POSITIONS]; LONGEST_RUN - SHORTEST_RUN + 1],
            passed_over: 0,
        }
    }
}

impl Drafting {
    /// How many of `draft`'s tokens to check: the number that maximises the
    /// tokens expected per second of the pass.
    pub fn worth(&mut self, draft: &Draft) -> usize {
        let available = draft.tokens.len().min(POSITIONS);
        if available == 0 {
            return 0;
        }
        // Until a pass of one row was timed, nothing to compare with.
        let Some(one_row) = self.one_row else {
            return 0;
        };
        let taken = &self.taken[draft.run - SHORTEST_RUN];
        // Unmeasured, an extra row is taken to cost nothing: the first
        // drafted pass measures it.
        let per_row = self.per_row.unwrap_or(0.0);
        let (mut best, mut best_rate) = (0, 1.0 / one_row);
        let (mut expected, mut reach) = (1.0, 1.0);
        for k in 1..=available {
            reach *= taken[k - 1];
            expected += reach;
            let rate = expected / (one_row + k as f64 * per_row);
            if rate > best_rate {
                (best, best_rate) = (k, rate);
            }
        }
        if best == 0 {
            self.passed_over += 1;
            if self.passed_over.is_multiple_of(EXPLORE_EVERY) {
                return 1;
            }
        }
        best
    }

    /// A pass of `rows` rows took `seconds`.
    pub fn timed(&mut self, rows: usize, seconds: f64) {
        if rows == 1 {
            self.one_row = Some(average(self.one_row, seconds));
        } else if let Some(one_row) = self.one_row {
            let extra = ((seconds - one_row) / (rows - 1) as f64).max(0.0);
            self.per_row = Some(average(self.per_row, extra));
        }
    }

    /// Of `drafted` tokens from a run of `run` tokens, the first `kept` were taken.
    pub fn judged(&mut self, run: usize, drafted: usize, kept: usize) {
        let taken = &mut self.taken[run - SHORTEST_RUN];
        // Positions after the first refused one were never judged.
        for (position, rate) in taken.iter_mut().enumerate().take(drafted.min(kept + 1)) {
            let outcome = if position < kept { 1.0 } else { 0.0 };
            *rate += LEARNING_RATE * (outcome - *rate);
        }
    }
}

fn average(mean: Option<f64>, value: f64) -> f64 {
    match mean {
        Some(mean) => mean + LEARNING_RATE * (value - mean),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokens_after_the_matching_run_are_drafted() {
        // "... cooled by a loop of liquid sodium ..." then the answer "cooled by".
        let prompt = [9, 10, 11, 12, 13, 14, 15, 16];
        let mut tokens = prompt.to_vec();
        tokens.extend([11, 12]);
        assert_eq!(draft(&tokens, 3).tokens, [13, 14, 15]);
        assert_eq!(draft(&tokens, 3).run, 2);
        assert_eq!(draft(&tokens, 10).tokens, [13, 14, 15, 16, 11, 12]);
        assert!(draft(&tokens, 0).tokens.is_empty());
    }

    #[test]
    fn the_longest_run_wins_then_the_latest_occurrence() {
        // [7, 1, 2] recurs at 0, the nearer [1, 2] at 5.
        let tokens = [7, 1, 2, 5, 8, 1, 2, 6, 7, 1, 2];
        assert_eq!(draft(&tokens, 1).tokens, [5]);
        assert_eq!(draft(&tokens, 1).run, 3);
        // Without the longer run, the latest [1, 2] is the one at 4.
        let tokens = [1, 2, 5, 8, 1, 2, 6, 9, 1, 2];
        assert_eq!(draft(&tokens, 2).tokens, [6, 9]);
    }

    #[test]
    fn a_lone_token_or_no_repeat_drafts_nothing() {
        assert!(draft(&[1, 2, 3, 4], 4).tokens.is_empty());
        // Only the last token recurs: too weak a match.
        assert!(draft(&[5, 1, 6, 7, 5], 4).tokens.is_empty());
        assert!(draft(&[], 4).tokens.is_empty());
        assert!(draft(&[3], 4).tokens.is_empty());
    }

    fn four(run: usize) -> Draft<'static> {
        Draft {
            tokens: &[1, 2, 3, 4],
            run,
        }
    }

    #[test]
    fn drafts_are_checked_where_they_are_taken_and_rows_are_cheap() {
        let mut drafting = Drafting::default();
        // Nothing timed yet: no draft.
        assert_eq!(drafting.worth(&four(2)), 0);
        drafting.timed(1, 0.060);
        // Rows not yet timed count as free: the whole draft.
        assert_eq!(drafting.worth(&four(2)), 4);
        // Rows cheap (memory-bound decode) and drafts always taken: all of it.
        drafting.timed(5, 0.070);
        for _ in 0..30 {
            drafting.judged(3, 4, 4);
        }
        assert_eq!(drafting.worth(&four(3)), 4);
    }

    #[test]
    fn drafts_that_are_refused_on_a_machine_where_rows_cost_stop() {
        let mut drafting = Drafting::default();
        drafting.timed(1, 0.060);
        // Each extra row costs 40% of a pass: compute-bound.
        drafting.timed(9, 0.060 + 8.0 * 0.024);
        for _ in 0..30 {
            drafting.judged(2, 8, 0);
        }
        let tried: usize = (0..EXPLORE_EVERY * 4)
            .map(|_| drafting.worth(&four(2)))
            .sum();
        // Only the occasional single token that keeps the statistics fresh.
        assert_eq!(tried, 4);
        // Runs of another length keep their own statistics.
        assert!(drafting.worth(&four(4)) > 0);
    }
}
