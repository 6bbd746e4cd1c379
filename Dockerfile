# vigil: the ext_proc sidecar as a container image.
#
#   docker build -t vigil .
#   docker run --rm -p 127.0.0.1:9464:9464 -e VIGIL_GRPC_INSECURE=true vigil   # embedded store, default policy
#
# Two stages: `build` compiles the TypeScript with the dev dependencies (typescript, @types/node);
# `runtime` holds only what `vigil serve` reads at run time (see src/paths.ts): the compiled
# dist/src, bin/vigil, package.json (ESM "type": "module", and it marks the project root together
# with proto/), the Envoy/gRPC protos (loaded from disk at start-up), the default policy and the Redis
# Lua scripts (read from src/state/lua when the Redis store starts), plus production dependencies.
# test/deploy/compose.test.ts rebuilds this runtime file list in a temporary directory and runs
# `vigil serve` from it, so a file missing here fails the tests.
#
# Both stages use the same pinned Node 20 image (Debian bookworm, slim).

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so editing the sources does not re-run `npm ci`. No install scripts are needed
# (the only dependency with one, protobufjs, merely prints a hint about its CLI).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# Only the sources the image needs: tsconfig also includes test/, bench/ and eval/, which are kept out
# of the build context (.dockerignore), so tsc compiles src/ alone into dist/src.
COPY tsconfig.json ./
COPY src ./src
RUN npm run build


FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

# A fixed numeric user (10001) so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd;
# the application files stay owned by root and are read-only for that user.
RUN groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vigil

# Production dependencies only: the dev dependencies (typescript, @types/*, grpc-js-xds, protobufjs
# as a direct dependency, the Kubernetes models) never reach this stage.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
COPY proto ./proto
COPY policy ./policy
COPY src/state/lua ./src/state/lua

# Inside a container, loopback is private to the container, so the defaults bind all interfaces:
# in docker-compose.yml Envoy is another container and reaches ext_proc at vigil:50051, and
# Prometheus scrapes vigil:9464. Security trade-off: anything that can reach these ports can open
# ext_proc streams (claiming any client address, so it could skew baselines or get penalties set on
# others) and read /metrics and /debug/policy (the operator API under /admin/ still needs
# VIGIL_ADMIN_TOKEN). So never publish 50051 beyond the host, keep both ports on a private network,
# and where Envoy shares vigil's network namespace (a Kubernetes sidecar in the same pod) set
# VIGIL_GRPC_ADDRESS=127.0.0.1:50051 again. Plaintext ext_proc on 0.0.0.0 is refused at start-up
# unless VIGIL_GRPC_INSECURE=true says the network is trusted (docker-compose.yml does) or mTLS is set
# (VIGIL_GRPC_TLS_CERT, _KEY, _CLIENT_CA; docs/deploy.md "TLS"); the image does not choose for you.
# VIGIL_POLICY keeps its default, /app/policy/default.yaml.
ENV VIGIL_GRPC_ADDRESS=0.0.0.0:50051 \
    VIGIL_ADMIN_ADDRESS=0.0.0.0:9464
EXPOSE 50051 9464

USER 10001:10001

# Liveness with node itself (the slim image has no curl or wget): GET /healthz on the admin port
# taken from VIGIL_ADMIN_ADDRESS, via loopback when vigil binds all interfaces.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const a=process.env.VIGIL_ADMIN_ADDRESS||'127.0.0.1:9464';const i=a.lastIndexOf(':');let h=a.slice(0,i);if(h===''||h==='0.0.0.0'||h==='[::]')h='127.0.0.1';fetch('http://'+h+':'+a.slice(i+1)+'/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]

# node runs as PID 1, with no init wrapper (no tini, no --init), and in exec form so `docker stop`'s
# SIGTERM reaches it directly (a shell-form CMD would put /bin/sh in between and swallow it). That is
# enough here because PID 1 only ignores signals it has no handler for: `vigil serve` installs its own
# SIGTERM/SIGINT handlers (drain in-flight streams for VIGIL_DRAIN_TIMEOUT_MS, close, exit 0) and a
# SIGHUP one (policy reload check), and it never spawns child processes, so there are no zombies to
# reap. Keep VIGIL_DRAIN_TIMEOUT_MS (5 s by default) below the stop grace period (10 s in Docker,
# terminationGracePeriodSeconds in Kubernetes, 30 s by default).
ENTRYPOINT ["node", "/app/bin/vigil"]
CMD ["serve"]
