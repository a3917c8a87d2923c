# storyforge for GPU machines: profile=prod_gpu (transformers LLM, diffusers keyframes and image-to-video, Kokoro
# narration, ACE-Step music; XTTS-v2 and MusicGen as options), CUDA 12.8 runtime. Models are never fetched at run time: mount a Hugging Face
# cache at $HF_HOME (/models), or bake models in at build time with PREFETCH_MODELS.
#
#   docker build -t storyforge .
#   docker build -t storyforge --build-arg PREFETCH_MODELS="stabilityai/stable-diffusion-xl-base-1.0 hexgrad/Kokoro-82M ACE-Step/acestep-v15-xl-turbo-diffusers" .
#   docker run --rm --gpus all -v hf-models:/models -v $PWD/out:/work storyforge story=/work/my_story.txt
#   docker run -d --gpus all -p 8000:8000 -e STORYFORGE_API_KEYS=... -v hf-models:/models --entrypoint storyforge-serve storyforge
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ARG PREFETCH_MODELS=""

ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models HF_HUB_OFFLINE=1 COQUI_TOS_AGREED=1 \
    STORYFORGE_PROFILE=prod_gpu EXECUTION_PROFILE=prod_gpu \
    STORYFORGE_CACHE_DIR=/cache STORYFORGE_OUTPUT_DIR=/work/outputs

# ffmpeg for media, espeak-ng for audio/tts=espeak and Coqui's phonemizer, a Devanagari font for Hindi subtitles
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev ffmpeg espeak-ng fonts-lohit-deva curl \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

# torch and torchaudio first, from the CUDA index, so nothing pulls a CPU or mismatched build
RUN pip install "torch==${TORCH_VERSION}" torchaudio --index-url "${TORCH_INDEX}"

WORKDIR /opt/storyforge
COPY pyproject.toml README.md ./
COPY storyforge ./storyforge
COPY conf ./conf
COPY recipes ./recipes
COPY assets ./assets
RUN pip install ".[gpu,coqui,piper,api,ray]" \
    && useradd --create-home --uid 1000 storyforge \
    && mkdir -p /cache /work /models \
    && chown storyforge /cache /work /models

# Optional: bake models into the image (needs network at build time only), e.g. PREFETCH_MODELS="Lightricks/LTX-Video"
RUN if [ -n "${PREFETCH_MODELS}" ]; then \
      for model in ${PREFETCH_MODELS}; do HF_HUB_OFFLINE=0 hf download "$model"; done; \
      chown -R storyforge /models; \
    fi

USER storyforge
WORKDIR /work
VOLUME ["/cache", "/work", "/models"]
EXPOSE 8000
HEALTHCHECK --interval=60s --timeout=20s CMD python -c "import torch, storyforge.cli; assert torch.cuda.is_available()" || exit 1
ENTRYPOINT ["storyforge"]
CMD ["recipe=short_story"]
