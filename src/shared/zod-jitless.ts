// Imported first by the short-lived entry points (agent, CLI). zod compiles a parser for each
// object schema on its first use, which pays off only after many parses of it; a process that
// parses each answer once or twice pays the compile every time (≈ 13 ms of a warm agent's claim).
import { z } from 'zod';

z.config({ jitless: true });
