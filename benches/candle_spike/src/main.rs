//! The candle spike (issue 19 item 4): one SASRec training epoch written with candle
//! (`candle-core` + `candle-nn`, CPU, autodiff) against one epoch of recs's hand-written SASRec
//! (faer + rayon), on the same data, configuration and thread count, in the same process,
//! interleaved (recs, candle, recs, candle, …) so that a change of machine load hits both.
//!
//! Configuration (both sides): max_len 200, hidden 64, 2 blocks, 1 head, dropout 0.2, full
//! softmax cross-entropy over all items at every position, batch 64, Adam (β 0.9 / 0.999,
//! ε 1e-8, lr 0.001). Data: S1 (`ml-1m/ratings_users0001-2999.dat.gz`, ordered by time), the
//! training part of leave-last-two-out (each user's last two items removed).
//!
//! The two networks are the same model, not the same code path:
//! - recs packs each batch's sequences back to back (no padding rows);
//! - the candle side does what a tensor framework does: it left-pads each batch to its longest
//!   sequence, masks the padded keys in attention, and computes the output layer and the loss
//!   only on the real rows (`index_select`), so the largest product (rows × items) is the same
//!   size on both sides. Layer norm and softmax are the composed (differentiable) candle ops:
//!   the fused `candle_nn::ops::layer_norm` / `softmax_last_dim` have no backward pass.
//!
//! ```text
//! cd benches/candle_spike
//! RECS_DATA=/path/to/shared/data RAYON_NUM_THREADS=2 nice -n 10 cargo run --release -- [rounds=2] [users=N]
//! ```
//! `users=N` keeps the first N users (a quick check that both sides run); `rounds` is the number
//! of (recs, candle) pairs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use recs::model::SasRec;

const MAX_LEN: usize = 200;
const HIDDEN: usize = 64;
const BLOCKS: usize = 2;
const DROPOUT: f32 = 0.2;
const BATCH: usize = 64;
const LR: f64 = 0.001;
const SEED: u64 = 42;
/// Added to the attention logits of masked keys (padding, or later positions).
const MASKED: f32 = -1e9;

type Seqs = Vec<Vec<u32>>;

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("RECS_DATA")
        .map(Into::into)
        .unwrap_or_else(|| "../../../shared/data".into())
}

/// S1's per-user item lists ordered by timestamp (ties by line order), and the item count.
fn load_s1() -> Result<(Seqs, usize), String> {
    let path = data_dir().join("ml-1m/ratings_users0001-2999.dat.gz");
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut users: HashMap<String, usize> = HashMap::new();
    let mut items: HashMap<String, u32> = HashMap::new();
    let mut rows: Vec<Vec<(i64, usize, u32)>> = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: line {}: {e}", path.display(), n + 1))?;
        let f: Vec<&str> = line.split("::").collect();
        if f.len() < 4 {
            return Err(format!(
                "{}: line {}: too few fields",
                path.display(),
                n + 1
            ));
        }
        let ts: i64 = f[3]
            .trim()
            .parse()
            .map_err(|_| format!("{}: line {}: field timestamp", path.display(), n + 1))?;
        let nu = users.len();
        let u = *users.entry(f[0].to_string()).or_insert(nu);
        let ni = items.len() as u32;
        let i = *items.entry(f[1].to_string()).or_insert(ni);
        if u == rows.len() {
            rows.push(Vec::new());
        }
        rows[u].push((ts, n, i));
    }
    let seqs = rows
        .into_iter()
        .map(|mut r| {
            r.sort_unstable();
            r.into_iter().map(|(_, _, i)| i).collect()
        })
        .collect();
    Ok((seqs, items.len()))
}

/// SplitMix64: the epoch's shuffle on the candle side.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// One transformer block (pre-LN, one head).
struct Block {
    ln1: (Tensor, Tensor),
    qkv: Linear,
    out: Linear,
    ln2: (Tensor, Tensor),
    ff1: Linear,
    ff2: Linear,
}

/// The candle SASRec: item and position embeddings, blocks, final layer norm; the output layer
/// is the item embedding (tied), as in recs.
struct Net {
    item: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    lnf: (Tensor, Tensor),
}

fn ln_params(vb: &VarBuilder) -> candle_core::Result<(Tensor, Tensor)> {
    Ok((
        vb.get_with_hints(HIDDEN, "g", candle_nn::Init::Const(1.0))?,
        vb.get_with_hints(HIDDEN, "b", candle_nn::Init::Const(0.0))?,
    ))
}

fn layer_norm(x: &Tensor, p: &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
    candle_nn::ops::layer_norm_slow(x, &p.0, &p.1, 1e-5)
}

impl Net {
    fn new(vb: VarBuilder, n_items: usize) -> candle_core::Result<Net> {
        let std = (1.0 / HIDDEN as f64).sqrt();
        let emb = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        };
        let item = vb.get_with_hints((n_items, HIDDEN), "item", emb)?;
        let pos = vb.get_with_hints((MAX_LEN, HIDDEN), "pos", emb)?;
        let mut blocks = Vec::new();
        for b in 0..BLOCKS {
            let vb = vb.pp(format!("block{b}"));
            blocks.push(Block {
                ln1: ln_params(&vb.pp("ln1"))?,
                qkv: candle_nn::linear(HIDDEN, 3 * HIDDEN, vb.pp("qkv"))?,
                out: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("out"))?,
                ln2: ln_params(&vb.pp("ln2"))?,
                ff1: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("ff1"))?,
                ff2: candle_nn::linear(HIDDEN, HIDDEN, vb.pp("ff2"))?,
            });
        }
        let lnf = ln_params(&vb.pp("lnf"))?;
        Ok(Net {
            item,
            pos,
            blocks,
            lnf,
        })
    }

    /// Mean cross-entropy of the batch: `items` `(B, T)` left-padded, `mask` `(B, T, T)`
    /// additive attention mask, `rows` the flat indices of the real positions and `targets`
    /// their next items.
    fn loss(
        &self,
        items: &Tensor,
        mask: &Tensor,
        rows: &Tensor,
        targets: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = items.dims2()?;
        let drop = |x: &Tensor| candle_nn::ops::dropout(x, DROPOUT);
        let emb = self
            .item
            .index_select(&items.flatten_all()?, 0)?
            .reshape((b, t, HIDDEN))?;
        let pos = self.pos.narrow(0, MAX_LEN - t, t)?;
        let mut x = drop(&emb.broadcast_add(&pos)?)?;
        let scale = 1.0 / (HIDDEN as f64).sqrt();
        for blk in &self.blocks {
            let a = layer_norm(&x, &blk.ln1)?;
            let qkv = blk.qkv.forward(&a)?;
            let q = qkv.narrow(2, 0, HIDDEN)?.contiguous()?;
            let k = qkv.narrow(2, HIDDEN, HIDDEN)?.contiguous()?;
            let v = qkv.narrow(2, 2 * HIDDEN, HIDDEN)?.contiguous()?;
            let att = ((q.matmul(&k.t()?.contiguous()?)? * scale)? + mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = blk.out.forward(&att.matmul(&v)?)?;
            x = (x + drop(&y)?)?;
            let f = drop(&blk.ff1.forward(&layer_norm(&x, &blk.ln2)?)?.relu()?)?;
            x = (x + drop(&blk.ff2.forward(&f)?)?)?;
        }
        let h = layer_norm(&x, &self.lnf)?
            .reshape((b * t, HIDDEN))?
            .index_select(rows, 0)?;
        let logits = h.matmul(&self.item.t()?)?;
        candle_nn::loss::cross_entropy(&logits, targets)
    }
}

/// A training sample: the last `MAX_LEN` inputs of a history and the next item at each.
fn samples(train: &[Vec<u32>]) -> Vec<(&[u32], &[u32])> {
    train
        .iter()
        .filter(|s| s.len() >= 2)
        .map(|s| {
            let n = s.len();
            let l = (n - 1).min(MAX_LEN);
            (&s[n - 1 - l..n - 1], &s[n - l..])
        })
        .collect()
}

/// One candle epoch; returns (train seconds, mean loss).
fn candle_epoch(
    net: &Net,
    opt: &mut AdamW,
    samples: &[(&[u32], &[u32])],
    epoch: u64,
) -> candle_core::Result<(f64, f64)> {
    let dev = Device::Cpu;
    let t0 = Instant::now();
    let mut order: Vec<usize> = (0..samples.len()).collect();
    SplitMix(SEED ^ epoch).shuffle(&mut order);
    let (mut loss_sum, mut n) = (0.0, 0usize);
    for idx in order.chunks(BATCH) {
        let b = idx.len();
        let t = idx.iter().map(|&k| samples[k].0.len()).max().unwrap_or(0);
        let mut items = vec![0u32; b * t];
        let mut mask = vec![MASKED; b * t * t];
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (s, &k) in idx.iter().enumerate() {
            let (inp, tgt) = samples[k];
            let pad = t - inp.len();
            items[s * t + pad..(s + 1) * t].copy_from_slice(inp);
            for (j, &y) in tgt.iter().enumerate() {
                rows.push((s * t + pad + j) as u32);
                targets.push(y);
            }
            // query row r sees keys pad..=r; a padded query row sees only itself (no NaN)
            for r in 0..t {
                let base = (s * t + r) * t;
                let first = if r < pad { r } else { pad };
                mask[base + first..=base + r].fill(0.0);
            }
        }
        let items = Tensor::from_vec(items, (b, t), &dev)?;
        let mask = Tensor::from_vec(mask, (b, t, t), &dev)?;
        let rows = Tensor::from_vec(rows, targets.len(), &dev)?;
        let targets = Tensor::from_vec(targets, rows.dims1()?, &dev)?;
        let loss = net.loss(&items, &mask, &rows, &targets)?;
        opt.backward_step(&loss)?;
        loss_sum += f64::from(loss.to_scalar::<f32>()?);
        n += 1;
    }
    Ok((t0.elapsed().as_secs_f64(), loss_sum / n.max(1) as f64))
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat` (NaN
/// where that cannot be read). Less sensitive than wall time to other processes on a loaded
/// machine: a side's CPU time is what its epoch cost, whoever else was running.
fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // fields after the parenthesised command name; utime and stime are fields 14 and 15
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        });
    // USER_HZ is 100 on Linux
    ticks.map_or(f64::NAN, |t| t / 100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rounds = 2usize;
    let mut n_users = usize::MAX;
    for kv in std::env::args().skip(1) {
        match kv.split_once('=') {
            Some(("rounds", v)) => rounds = v.parse()?,
            Some(("users", v)) => n_users = v.parse()?,
            _ => return Err(format!("expected rounds=N or users=N, got {kv}").into()),
        }
    }
    let (seqs, n_items) = load_s1()?;
    // leave-last-two-out: the training part is each history minus its last two items
    let train: Vec<Vec<u32>> = seqs
        .iter()
        .take(n_users)
        .map(|s| s[..s.len().saturating_sub(2)].to_vec())
        .collect();
    let samples = samples(&train);
    let rows: usize = samples.iter().map(|s| s.0.len()).sum();
    println!(
        "S1 train: {} users, {n_items} items, {} samples, {rows} predicted positions; \
         rayon threads {}, candle threads {}",
        train.len(),
        samples.len(),
        rayon::current_num_threads(),
        candle_core::utils::get_num_threads()
    );

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = Net::new(vb, n_items)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: LR,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let params = SasRec::params()
        .max_len(MAX_LEN)
        .hidden(HIDDEN)
        .blocks(BLOCKS)
        .heads(1)
        .dropout(DROPOUT)
        .batch_size(BATCH)
        .learning_rate(LR as f32)
        .negatives(0)
        .epochs(1)
        .seed(SEED);
    for round in 1..=rounds {
        // recs: a fresh one-epoch fit (no validation users: the epoch is training only)
        let load0 = loadavg();
        let cpu0 = cpu_seconds();
        let mut recs_epoch = (f64::NAN, f64::NAN);
        params.fit_sequences(n_items, &train, &[], |e| {
            recs_epoch = (e.train_seconds, e.loss)
        })?;
        let recs_cpu = cpu_seconds() - cpu0;
        println!(
            "round {round} recs   epoch {:7.1} s wall {recs_cpu:7.1} s CPU  loss {:.4}  load {load0} -> {}",
            recs_epoch.0,
            recs_epoch.1,
            loadavg()
        );
        // candle: the next epoch of one model (its step count does not change the work)
        let load0 = loadavg();
        let cpu0 = cpu_seconds();
        let (secs, loss) = candle_epoch(&net, &mut opt, &samples, round as u64)?;
        let cpu = cpu_seconds() - cpu0;
        println!(
            "round {round} candle epoch {secs:7.1} s wall {cpu:7.1} s CPU  loss {loss:.4}  load {load0} -> {}  \
             candle/recs wall {:.2} CPU {:.2}",
            loadavg(),
            secs / recs_epoch.0,
            cpu / recs_cpu
        );
    }
    Ok(())
}
