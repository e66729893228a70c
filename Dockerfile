# syntax=docker/dockerfile:1
#
# revroll's image: `revroll serve`, the daemon the Helm chart (charts/revroll) deploys.
#   docker build -t revroll:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# Three stages so the runtime gets only the compiled CLI and production dependencies: no
# TypeScript, no test tooling, no sources, no npm.
#
# Release builds should pin the base image by digest: --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile TypeScript to dist/ with the full (dev) dependency tree.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first: the dependency layer is reused until they change.
COPY package.json package-lock.json ./
COPY packages/sandbox/package.json ./packages/sandbox/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# The sandbox package's sources: `src/cli` type-checks against them; nothing of it reaches dist/.
COPY packages/sandbox ./packages/sandbox
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# --- deps: production dependencies only, resolved from the same lockfile. No production
# dependency has an install script (only the `node` devDependency does), so none is run. The
# workspace link to the sandbox package (a development tool) is removed: the daemon never loads
# it, and `revroll sandbox` in the image says it is not part of this installation.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sandbox/package.json ./packages/sandbox/
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@revroll

# --- runtime
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="revroll" \
      org.opencontainers.image.description="Canary upgrades of an Istio control plane, wave by wave, gated on telemetry, unattended." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# tini runs as PID 1: it forwards SIGTERM to node and reaps orphans. node as PID 1 would reap
# nothing, and revroll starts child processes (a policy's install command: istioctl, helm)
# whose own children would linger as zombies; tini also gives every subcommand, not only
# `serve` (which handles SIGTERM itself), the default exit-on-signal behaviour.
# npm, npx, corepack and yarn are removed: the daemon never runs them, and they would only add
# packages to the image's vulnerability reports.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg

WORKDIR /app
# What `revroll serve` loads and nothing else: the compiled CLI, package.json (type: module,
# and the version revroll reports) and the production node_modules. Files stay owned by root
# and read-only to the runtime user.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./

# A numeric user (no passwd entry needed) lets Kubernetes verify runAsNonRoot; 65532 is the
# conventional "nonroot" id of distroless images, matching the chart's securityContext.
USER 65532:65532
# The root filesystem is read-only in the chart; nothing writes outside /tmp (an emptyDir
# there). HOME=/tmp keeps any library's cache or ~/.kube lookup inside it.
# MALLOC_ARENA_MAX and the Node flags are those of the CLI's shebang line (src/cli/main.ts),
# which this ENTRYPOINT bypasses: a small young generation, a heap grown in small steps, two
# malloc arenas (docs/performance.md measures them).
ENV NODE_ENV=production \
    HOME=/tmp \
    MALLOC_ARENA_MAX=2
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "--optimize-for-size", "--max-opt=0", "/app/dist/cli/main.js"]
CMD ["serve", "--policies", "/etc/revroll/policies"]
