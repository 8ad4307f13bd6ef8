"""What every app shares, next to the engine that owns it: input bounds, the kind registry, logs, the outbound
guard and answer judging, raw SQL helpers, rate budgets, retention's registry, TLS and web helpers."""
