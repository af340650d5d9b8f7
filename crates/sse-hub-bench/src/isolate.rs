//! CPU isolation for latency scenarios.
//!
//! On a small machine the load generator and the server compete for the
//! same cores, and the load generator needs about as much CPU per delivery
//! as the server (each read, and the ACK it sends, walks the loopback TCP
//! stack). A latency figure measured that way is mostly the two processes
//! queueing for cores, which compresses every server toward the same
//! number. A latency scenario therefore runs the load generator on its own
//! CPU and the server on the others, through `taskset` (util-linux, in every
//! Debian base system): the split a benchmark with a second machine would
//! give, on one machine.

use std::process::{Command, Stdio};

/// Which CPUs the server and the load generator run on, as `taskset -c`
/// lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSplit {
    /// CPUs for the server under test.
    pub server: String,
    /// The CPU for the load generator.
    pub loadgen: String,
}

impl CpuSplit {
    /// The split for this process's allowed CPUs, or why there is none
    /// (fewer than two CPUs, or no usable `taskset`).
    pub fn detect() -> Result<Self, String> {
        let status = std::fs::read_to_string("/proc/self/status")
            .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .ok_or("no Cpus_allowed_list in /proc/self/status")?;
        let cpus =
            parse_cpu_list(list.trim()).ok_or_else(|| format!("unreadable CPU list {list:?}"))?;
        let split = Self::of(&cpus).ok_or_else(|| format!("only {} CPU(s)", cpus.len()))?;
        let taskset = Command::new("taskset")
            .args(["-c", &split.loadgen, "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match taskset {
            Ok(st) if st.success() => Ok(split),
            Ok(st) => Err(format!("`taskset -c {} true` failed ({st})", split.loadgen)),
            Err(e) => Err(format!("taskset not runnable: {e}")),
        }
    }

    /// The last CPU for the load generator, the others for the server;
    /// `None` below two CPUs.
    pub fn of(cpus: &[usize]) -> Option<Self> {
        let (last, rest) = cpus.split_last()?;
        if rest.is_empty() {
            return None;
        }
        let server = rest
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Some(Self {
            server,
            loadgen: last.to_string(),
        })
    }
}

/// Parses a kernel CPU list (`0-3,8,10-11`) into sorted, distinct CPU
/// numbers; `None` when it is not one.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(
            parse_cpu_list("0-3,8,10-11"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list("3,1,1-2"), Some(vec![1, 2, 3]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(parse_cpu_list("0-"), None);
    }

    #[test]
    fn split_gives_the_load_generator_the_last_cpu() {
        assert_eq!(CpuSplit::of(&[7]), None);
        assert_eq!(CpuSplit::of(&[]), None);
        assert_eq!(
            CpuSplit::of(&[0, 1]),
            Some(CpuSplit {
                server: "0".into(),
                loadgen: "1".into()
            })
        );
        assert_eq!(
            CpuSplit::of(&[2, 3, 6, 7]),
            Some(CpuSplit {
                server: "2,3,6".into(),
                loadgen: "7".into()
            })
        );
    }

    #[test]
    fn detect_splits_this_machine() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let has_taskset = Command::new("taskset").arg("-V").output().is_ok();
        match CpuSplit::detect() {
            Ok(s) => {
                assert!(cpus >= 2 && has_taskset);
                assert!(!s.server.split(',').any(|c| c == s.loadgen), "{s:?}");
            }
            Err(why) => assert!(cpus < 2 || !has_taskset, "{why}"),
        }
    }
}
