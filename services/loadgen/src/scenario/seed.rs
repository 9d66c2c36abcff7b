//! `--mode seed`: registers `--volunteers` volunteers at `--rate` as the base for the other
//! modes, then stops. It is the [`mix`](super::mix) of registrations only, with no warm-up,
//! run for as long as the volunteers take, spread over Germany unless `--spread` says
//! otherwise.

use anyhow::bail;

use crate::args::{Args, Spread};

/// Turns the seed's arguments into those of the mix that registers them.
pub fn as_mix(args: &mut Args) -> anyhow::Result<()> {
    if args.volunteers == 0 {
        bail!("--volunteers must be at least 1");
    }
    args.duration = (args.volunteers as f64 / args.rate).ceil() as u64;
    args.warmup = 0;
    args.mix = "register".into();
    args.spread.get_or_insert(Spread::Germany);
    Ok(())
}
