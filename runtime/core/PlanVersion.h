//===- PlanVersion.h - The plan format version ------------------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_PLANVERSION_H
#define FRESCO_RUNTIME_CORE_PLANVERSION_H

#include <cstdint>

namespace fresco {
/// Bumped whenever runtime/schema/plan.fbs changes meaning; the runtime
/// refuses plans of another version.
/// 2: Linear may carry LinearAttrs (a fused activation); a version-1 runtime
/// would skip it silently.
/// 3: LayerNorm may be modulated (LayerNormAttrs.modulated, shift and scale
/// as two more operands), which a version-2 runtime does not know.
/// 4: Attention may be ring attention (AttentionAttrs.ring_members), which
/// a version-3 runtime would run as attention over the local block only.
/// 5: Send, Recv and Broadcast op codes (pipeline stages).
/// 6: RmsNorm (x [, weight], LayerNormAttrs for its epsilon) and MulAdd
/// (a * b + c) op codes.
/// 7: op codes generated from runtime/schema/Ops.def (same values);
/// RmsNorm carries RmsNormAttrs; ops without attributes in Ops.def must carry
/// none; asynchronous AllToAll/AllGather (CollectiveAttrs.async_start) with
/// an explicit Wait instruction.
/// 7 also: Plan.float_storage, a plan laid out for bf16/f16 storage.
/// 7 also: the Pipeline table describes components (function, ranks, the
/// role of each input and output), conditioning, latent layout and sampler;
/// a version-6 runtime would not find its fields.
/// 8: Pad op code (zero padding along an axis); AttentionAttrs.key_valid
/// (padded keys attention ignores); weight slices may reach past their
/// checkpoint tensor (read as zeros). A version-7 runtime would attend to
/// the padding.
/// 9: QuickGelu, EosPool and RelativePositionBias op codes;
/// AttentionAttrs.causal and Attention's optional 4th operand (an additive
/// score bias): the text encoders of Flux. A version-8 runtime would attend
/// without the mask and the bias.
/// 10: the Pipeline table for text-to-image: text encoder components with
/// their tokenizer and prompt slot, the sampler's timestep divisor, timestep
/// schedule and flow prediction. A version-9 runtime would feed Flux's
/// transformer timesteps 1000x too large.
/// 11: several text encoders fill one denoiser input (Component.windows),
/// the TimeIds role and Conditioning.time_ids, zero_negative_prompt, prompt
/// slot 2: SDXL and SD3. A version-10 runtime would feed SDXL's UNet one
/// encoder's embeddings.
/// 11 also: PosEmbed2dAttrs.row_start, col_start, rows and cols (a window of
/// the table: SD3's crop without the whole table). A version-10 runtime would
/// compute the whole table's first tokens instead.
/// 12: LinearAttrs.fp8 (FP8 GEMMs, fresco-compile --gemm fp8). A version-11
/// runtime would run those linears in the float storage, not the precision
/// the plan was compiled for.
/// 13: Rope's optional third operand, a per-head RMS norm weight, with
/// RopeAttrs.epsilon (Flux's q/k norms fused into the rotation). A
/// version-12 runtime would refuse the operand count; the bump names why.
/// 14: the Halo op code (CollectiveAttrs.halo_lo, halo_hi) and
/// GroupNormAttrs.stats_members: a UNet's rows split over ranks (ulysses,
/// ring), its convolutions reading their neighbours' rows and its group
/// norms taking statistics over every rank's rows. A version-13 runtime
/// would normalise each rank's rows on their own statistics.
/// 14 also: ComponentRole Encoder and TensorRoles Pixels, LatentMean (the
/// VAE encoder of an image-to-image plan, fresco-compile --vae-encoder).
/// Added in the same release, so no bump: a version-13 runtime refuses the
/// plan by its version anyway.
/// 15: the StaleGather op code and Pipeline.fresh_steps (patch=P,
/// DistriFusion): attention reads the other ranks' keys and values from the
/// previous step. A version-14 runtime would not know the op.
/// 16: the PatchCache op code and Pipeline.warmup_function (PipeFusion,
/// fresco-compile --parallel pipefusion=S): a rank runs its tokens' patches
/// in turn, attention reading the others' keys and values from a cache the
/// warm-up function fills first. A version-15 runtime would not know the
/// op.
/// 17: Conditioning.aesthetic_score (the SDXL refiner's time ids end with an
/// aesthetic score the run gives, another for the negative half). A
/// version-16 runtime would feed the UNet one time id too few.
/// 18: GroupNormAttrs.valid_rows and CollectiveAttrs.valid_rows (Halo): a
/// UNet's rows padded so that an uneven degree (ring=3) splits every level
/// evenly; the padding rows are left out of the group statistics and read
/// as zeros by the convolutions. A version-17 runtime would mix them in.
/// 19: the ReduceScatter op code (CollectiveAttrs members, dim: the sum over
/// the members, this member's block of it along `dim`): tensor parallelism
/// over a sequence split (Megatron's sequence parallelism). A version-18
/// runtime would not know the op.
/// 20: LinearAttrs.residual (a residual added in the GEMM's epilogue,
/// fresco-fuse-epilogues). A version-19 runtime would take the residual for
/// the bias, or refuse the operand count.
/// 21: LinearAttrs.gate (a gated residual, r + g * (x w^T + b), in the
/// GEMM's epilogue, fresco-fuse-epilogues). A version-20 runtime would
/// take the gate for the bias or the residual.
/// 22: an AllReduce may start asynchronously (CollectiveAttrs.async_start,
/// completed by its Wait), and may run inside another asynchronous
/// collective's window over the same members: tensor parallelism's
/// row-parallel GEMMs split into chunks whose all_reduces overlap the next
/// chunk's GEMM. A version-21 runtime refuses such a start.
/// 23: Latents.mask_channels (an inpainting UNet: the denoiser's latents
/// input carries the mask and the masked image's latents after the
/// latents). A version-22 runtime would feed it latents alone.
/// 24: TensorRole LatentLogVar (the VAE encoder also returns the latent
/// distribution's log-variance, so that --generator torch can draw the
/// sample diffusers draws). A version-23 runtime would refuse the role.
/// 25: TensorRoles ControlImage and ControlScale (a denoiser that runs a
/// ControlNet with the UNet). A version-24 runtime would refuse the roles.
/// 26: TensorRoles ControlLatents (a Flux transformer that runs
/// FluxControlNetModels: the control images VAE-encoded and packed) and
/// ControlMode (ControlNet-Union's modes). A version-25 runtime would
/// refuse the roles.
/// 27: Component.output_prompts (a text encoder output that fills only the
/// prompts' or only the negative prompts' rows: fresco-compile
/// --clip-skip). A version-26 runtime would fill both with each. Also
/// Latents.control_mask_channels (an inpainting SD3 ControlNet's mask
/// channel after its control latents), which a version-26 runtime would
/// not fill; and a UNet ControlNet's ControlScale [batch, K, R], a scale
/// per residual (guess mode), where a version-26 runtime takes [batch, K].
/// 28: Latents.latents_mean / latents_std (an SDXL VAE's latent
/// statistics); a version-27 runtime would decode without them.
constexpr uint32_t kPlanVersion = 28;
} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PLANVERSION_H
