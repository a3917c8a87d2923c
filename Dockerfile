# storyforge image. Today it carries the debug_cpu path (the core install); issue 5 turns it into the CUDA
# image for profile=prod_gpu. Build: docker build -t storyforge .   Run: docker run --rm -v $PWD/out:/work storyforge
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STORYFORGE_CACHE_DIR=/cache STORYFORGE_OUTPUT_DIR=/work/outputs STORYFORGE_PROFILE=debug_cpu

WORKDIR /opt/storyforge
COPY pyproject.toml README.md ./
COPY storyforge ./storyforge
COPY conf ./conf
COPY recipes ./recipes
COPY assets ./assets
RUN pip install . && useradd --create-home --uid 1000 storyforge && mkdir -p /cache /work && chown storyforge /cache /work

USER storyforge
WORKDIR /work
VOLUME ["/cache", "/work"]
HEALTHCHECK CMD python -c "import storyforge.cli" || exit 1
ENTRYPOINT ["storyforge"]
CMD ["recipe=short_story"]
