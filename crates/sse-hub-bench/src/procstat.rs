//! Reading process CPU time and memory from `/proc`.

use anyhow::{bail, Context, Result};
use std::sync::OnceLock;

/// Clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`,
/// 100 when that cannot be run).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// Which process to read: a pid, or `self`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// The current process.
    Myself,
    /// Another process.
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Myself => format!("/proc/self/{file}"),
            Proc::Pid(p) => format!("/proc/{p}/{file}"),
        }
    }
}

/// User + system CPU time of a process (all its threads), in µs.
pub fn cpu_time_us(p: Proc) -> Result<u64> {
    let path = p.path("stat");
    let s = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_cpu_ticks(&s).map(|ticks| ticks * 1_000_000 / clock_ticks())
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Result<u64> {
    // The command name (field 2) may contain spaces: fields restart after
    // the last ')'. After it: state(3) ... utime(14) stime(15).
    let Some(i) = stat.rfind(')') else {
        bail!("malformed stat line");
    };
    let fields: Vec<&str> = stat[i + 1..].split_whitespace().collect();
    if fields.len() < 13 {
        bail!("short stat line");
    }
    let utime: u64 = fields[11].parse()?;
    let stime: u64 = fields[12].parse()?;
    Ok(utime + stime)
}

/// Resident set size of a process, in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(p: Proc) -> Result<u64> {
    let path = p.path("status");
    let s = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_rss_kib(&s)
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_status_rss_kib(status: &str) -> Result<u64> {
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let n = rest.split_whitespace().next().unwrap_or_default();
            return Ok(n.parse()?);
        }
    }
    bail!("no VmRSS line")
}

/// Raises the soft open-file limit to the hard limit; returns the new soft
/// limit. Child processes spawned afterwards inherit it.
pub fn raise_nofile_limit() -> Result<u64> {
    let n = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stat_line() {
        let s = "1234 (my prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1000 1000000 200 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(s).unwrap(), 325);
    }

    #[test]
    fn status_rss() {
        let s = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   4242 kB\n";
        assert_eq!(parse_status_rss_kib(s).unwrap(), 4242);
    }

    #[test]
    fn own_process() {
        assert!(rss_kib(Proc::Myself).unwrap() > 0);
        cpu_time_us(Proc::Myself).unwrap();
    }
}
