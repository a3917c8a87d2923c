"""Tiny, randomly initialised diffusers pipelines built fully offline from configs (as diffusers' own tests
build them), for tests of the production loaders.

Every ``tiny_*`` function builds a pipeline, ``save_pretrained``s it into ``folder`` and
returns the folder.  The folders load back with the ordinary loaders
(``AutoPipelineForText2Image`` / ``DiffusionPipeline.from_pretrained``) and run on CPU in
well under a second per step.  No Hugging Face hub access is needed: tokenizers are built
from tiny in-memory vocabularies.

Tested with: torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.24.0, tokenizers 0.23.3.
"""

from __future__ import annotations

import os

import torch

# --------------------------------------------------------------------------- tokenizers

_WORDS = (
    "a an the of and in on with red blue green kite sky cat dog man woman city night day "
    "forest river mountain sun moon blurry low quality dance monkey hero story video frame "
    "castle dragon ship sea light dark walking running flying"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    # Same table as GPT-2 / CLIP byte-level BPE.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def tiny_clip_tokenizer(folder: str | os.PathLike | None = None):
    """A working CLIPTokenizer with a ~520-token byte-level vocab (every text tokenizes,
    nothing maps to <unk>).  Built with ``vocab=dict, merges=list`` (transformers 5 API)."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for c in chars:
        vocab.setdefault(c + "</w>", len(vocab))
    # a handful of merges so common words become single tokens
    merges: list[str] = []
    for w in ("a", "the", "red", "kite", "cat", "dog"):
        if len(w) < 2:
            continue
        cur = w[0]
        for i, ch in enumerate(w[1:], start=1):
            nxt = ch + ("</w>" if i == len(w) - 1 else "")
            m = (cur, nxt)  # transformers 5: merges are (left, right) tuples
            if m not in merges:
                merges.append(m)
            cur = cur + nxt
            vocab.setdefault(cur, len(vocab))
    vocab.setdefault("<|startoftext|>", len(vocab))
    vocab.setdefault("<|endoftext|>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    if folder is not None:
        tok.save_pretrained(folder)
    return tok


def tiny_t5_tokenizer(folder: str | os.PathLike | None = None):
    """A working T5Tokenizer (Unigram) from a tiny vocab: specials + single chars + a few words."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    seen = {p for p, _ in pieces}
    for w in _WORDS:
        p = "▁" + w
        if p not in seen:
            pieces.append((p, -1.0))
            seen.add(p)
    for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;()":
        for p in (c, "▁" + c):
            if p not in seen:
                pieces.append((p, -5.0))
                seen.add(p)
    tok = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)
    if folder is not None:
        tok.save_pretrained(folder)
    return tok


def _tiny_t5_encoder(vocab_size: int, d_model: int = 32, umt5: bool = False):
    """T5EncoderModel (LTX, CogVideoX) or UMT5EncoderModel (Wan uses umt5-xxl)."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    cfg = (UMT5Config if umt5 else T5Config)(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return (UMT5EncoderModel if umt5 else T5EncoderModel)(cfg).eval()


def _t5_pair(umt5: bool = False):
    """A tiny T5 tokenizer and a text encoder sized to it."""
    tokenizer = tiny_t5_tokenizer()
    return tokenizer, _tiny_t5_encoder(len(tokenizer), d_model=32, umt5=umt5)


def _tiny_image_encoder(image_size: int, hidden: int = 32, proj: int = 32, patch: int = 16, with_projection=True):
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(
        hidden_size=hidden,
        projection_dim=proj,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=image_size,
        patch_size=patch,
    )
    cls = CLIPVisionModelWithProjection if with_projection else CLIPVisionModel
    return cls(cfg).eval()


def _clip_image_processor(size: int):
    from transformers import CLIPImageProcessor  # -> CLIPImageProcessorPil when torchvision is missing

    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def _save(pipe, folder) -> str:
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


# --------------------------------------------------------------------------- 1. SD 1.5-style


def tiny_sd(folder) -> str:
    """SD-1.5-shaped text-to-image: UNet2DConditionModel + AutoencoderKL (4 blocks -> /8 like
    SD) + CLIPTextModel/CLIPTokenizer + DDIMScheduler, no safety checker."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,  # latent size => default 64px
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8, 8, 8),  # 4 blocks -> vae_scale_factor 8, as SD 1.5
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=64,
        scaling_factor=0.18215,
    )
    tokenizer = tiny_clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    return _save(pipe, folder)


# --------------------------------------------------------------------------- 2. LTX-Video I2V


def tiny_ltx_i2v(folder, real_compression: bool = True) -> str:
    """LTXImageToVideoPipeline: LTXVideoTransformer3DModel + AutoencoderKLLTXVideo + T5.

    real_compression=True (default): VAE compresses like real LTX-Video 0.9.x -- spatial 32
    (patch_size 4 x three 2x down blocks), temporal 8 -- so frame-count/size arithmetic matches
    production (num_frames 8k+1, height/width multiples of 32).  False: the diffusers-test VAE
    (spatial 4, temporal 4)."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,  # == vae latent_channels
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,  # == T5 d_model
    )
    scaling = (True, True, True, False) if real_compression else (True, True, False, False)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=scaling,
        decoder_spatio_temporal_scaling=scaling,
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=4 if real_compression else 1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    tokenizer, text_encoder = _t5_pair()
    pipe = LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    return _save(pipe, folder)


# --------------------------------------------------------------------------- 3a. Wan 2.1 I2V


def tiny_wan_i2v(folder) -> str:
    """WanImageToVideoPipeline (Wan 2.1 style, with CLIP vision image encoder)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
    )
    tokenizer, text_encoder = _t5_pair(umt5=True)
    image_encoder = _tiny_image_encoder(image_size=224, hidden=32, proj=32, patch=32, with_projection=False)
    image_processor = _clip_image_processor(224)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=36,  # 16 noise + 16 cond latents + 4 mask
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024,  # real value; 32 breaks at e.g. 480x832
        image_dim=32,  # == image encoder hidden_size
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        image_processor=image_processor,
        image_encoder=image_encoder,
        transformer=transformer,
    )
    return _save(pipe, folder)


# --------------------------------------------------------------------------- 3b. CogVideoX I2V


def tiny_cogvideox_i2v(folder, height: int = 32, width: int = 32, num_frames: int = 49) -> str:
    """CogVideoXImageToVideoPipeline (CogVideoX-5b-I2V style, learned positional embeddings).
    The learned positional embeddings fix the resolution: the pipeline raises ValueError for any
    height/width other than the ones given here (multiples of 16).  max_text_seq_length is the
    real 226 so the pipeline's default max_sequence_length=226 works."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=8,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        num_layers=1,
        sample_width=width // 8,
        sample_height=height // 8,
        sample_frames=num_frames,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,  # must equal the max_sequence_length passed to the pipeline (default 226)
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    tokenizer, text_encoder = _t5_pair()
    pipe = CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=DDIMScheduler()
    )
    return _save(pipe, folder)


# --------------------------------------------------------------------------- 3c. SVD


def tiny_svd(folder) -> str:
    """StableVideoDiffusionPipeline.  The pipeline always resizes the conditioning image to
    224x224 before the CLIP image encoder, so image_size must be 224."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,  # == image encoder projection_dim
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,  # 3 * addition_time_embed_dim
        addition_time_embed_dim=32,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
        layers_per_block=1,
    )
    image_encoder = _tiny_image_encoder(image_size=224, hidden=32, proj=32, patch=32, with_projection=True)
    feature_extractor = _clip_image_processor(224)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    pipe = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler, feature_extractor=feature_extractor
    )
    return _save(pipe, folder)


BUILDERS = {"sd": tiny_sd, "ltx": tiny_ltx_i2v, "wan": tiny_wan_i2v, "cogvideox": tiny_cogvideox_i2v, "svd": tiny_svd}


# --------------------------------------------------------------------------- 4. IP-Adapter


def tiny_ip_adapter(folder, sd_folder, variant: str = "plain", subfolder: str = "models", family: str = "sd15") -> str:
    """An IP-Adapter for the tiny SD pipeline in ``sd_folder``, laid out like h94/IP-Adapter: the weights as
    ``<subfolder>/<weight>.safetensors`` with keys in the original (not diffusers') names, ``image_proj.*`` and
    ``ip_adapter.<n>.to_k_ip/to_v_ip`` per cross-attention layer (n = 1, 3, 5, ... as diffusers counts them), and
    a tiny CLIP vision encoder with projection in ``<subfolder>/image_encoder``. ``variant``: ``plain`` (4 tokens
    from the projected embedding), ``plus`` (a perceiver resampler over the encoder's hidden states) or
    ``full_face`` (an MLP over all 257 hidden states). Returns the weight file's name."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(sd_folder, subfolder="unet")
    cad = unet.config.cross_attention_dim
    encoder = _tiny_image_encoder(image_size=224, hidden=32, proj=32, patch=14, with_projection=True)  # 256+1 tokens
    hidden = encoder.config.hidden_size

    def w(*shape):
        return torch.randn(*shape) * 0.05

    proj: dict[str, torch.Tensor] = {}
    if variant == "plain":
        proj = {"proj.weight": w(4 * cad, encoder.config.projection_dim), "proj.bias": w(4 * cad),
                "norm.weight": torch.ones(cad), "norm.bias": torch.zeros(cad)}  # fmt: skip
    elif variant == "full_face":
        proj = {"proj.0.weight": w(hidden, hidden), "proj.0.bias": w(hidden), "proj.2.weight": w(cad, hidden),
                "proj.2.bias": w(cad), "proj.3.weight": torch.ones(cad), "proj.3.bias": torch.zeros(cad)}  # fmt: skip
    elif variant == "plus":
        dim, queries = 64, 4  # diffusers reads heads as to_q rows // 64: one head of 64
        proj = {"latents": w(1, queries, dim), "proj_in.weight": w(dim, hidden), "proj_in.bias": w(dim),
                "proj_out.weight": w(cad, dim), "proj_out.bias": w(cad), "norm_out.weight": torch.ones(cad),
                "norm_out.bias": torch.zeros(cad)}  # fmt: skip
        for i in range(4):  # diffusers builds the resampler 4 layers deep
            proj |= {f"layers.{i}.0.norm1.weight": torch.ones(dim), f"layers.{i}.0.norm1.bias": torch.zeros(dim),
                     f"layers.{i}.0.norm2.weight": torch.ones(dim), f"layers.{i}.0.norm2.bias": torch.zeros(dim),
                     f"layers.{i}.0.to_q.weight": w(dim, dim), f"layers.{i}.0.to_kv.weight": w(2 * dim, dim),
                     f"layers.{i}.0.to_out.weight": w(dim, dim), f"layers.{i}.1.0.weight": torch.ones(dim),
                     f"layers.{i}.1.0.bias": torch.zeros(dim), f"layers.{i}.1.1.weight": w(4 * dim, dim),
                     f"layers.{i}.1.3.weight": w(dim, 4 * dim)}  # fmt: skip
    else:
        raise ValueError(f"unknown IP-Adapter variant {variant!r}")
    layers: dict[str, torch.Tensor] = {}
    key_id = 1
    blocks = unet.config.block_out_channels
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention: no image tokens
        if name.startswith("mid_block"):
            size = blocks[-1]
        elif name.startswith("up_blocks"):
            size = list(reversed(blocks))[int(name[len("up_blocks.")])]
        else:
            size = blocks[int(name[len("down_blocks.")])]
        layers |= {f"{key_id}.to_k_ip.weight": w(size, cad), f"{key_id}.to_v_ip.weight": w(size, cad)}
        key_id += 2
    weight = f"ip-adapter{'' if variant == 'plain' else '-' + variant.replace('_', '-')}_{family}.safetensors"
    target = os.path.join(str(folder), subfolder)
    os.makedirs(target, exist_ok=True)
    tensors = {f"image_proj.{k}": v.contiguous() for k, v in proj.items()}
    tensors |= {f"ip_adapter.{k}": v.contiguous() for k, v in layers.items()}
    save_file(tensors, os.path.join(target, weight))
    encoder.save_pretrained(os.path.join(target, "image_encoder"))
    return weight


# --------------------------------------------------------------------------- 5. SDXL-style


def tiny_sdxl(folder) -> str:
    """SDXL-shaped text-to-image (as diffusers' SDXL tests build it): a UNet with text-time added conditions and
    two CLIP text encoders (the second with projection) whose hidden states are concatenated, no safety checker."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
        norm_num_groups=2,
    )  # fmt: skip
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=2, sample_size=64)  # fmt: skip
    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")  # fmt: skip
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(config).eval(), text_encoder_2=CLIPTextModelWithProjection(config).eval(),
        tokenizer=tokenizer, tokenizer_2=tiny_clip_tokenizer(), unet=unet, scheduler=scheduler,
    )  # fmt: skip
    return _save(pipe, folder)
