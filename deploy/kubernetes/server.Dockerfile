# syntax=docker/dockerfile:1
# slipway/server: the `slipway` CLI (server and fleet) for the manifests here. Build from the
# repository root on a machine with a registry:
#   docker build -f deploy/kubernetes/server.Dockerfile -t registry.example/slipway/server:latest .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts scripts
COPY src src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
