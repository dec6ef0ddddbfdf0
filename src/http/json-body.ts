import { BadRequestException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/** Deeper than any body of this API needs; deep enough nesting would exhaust the validators' recursion. */
export const MAX_JSON_DEPTH = 32;

/**
 * What is wrong with a parsed JSON body that the parser lets through: nesting deeper than `maxDepth`, or a
 * string (or key) with an unpaired UTF-16 surrogate (`"\ud800"`), which PostgreSQL cannot store and which
 * would come back changed. Walks the value without recursion, so any depth is safe to inspect.
 */
export function jsonBodyProblem(body: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[body, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return 'JSON strings must be well-formed Unicode (an unpaired UTF-16 surrogate was found)';
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= maxDepth) return `JSON body is nested deeper than ${maxDepth} levels`;
      for (const [key, child] of Object.entries(value)) {
        if (!key.isWellFormed()) return 'JSON strings must be well-formed Unicode (an unpaired UTF-16 surrogate was found)';
        stack.push([child, depth + 1]);
      }
    }
  }
  return undefined;
}

/** Runs right after the JSON body parser: a body it accepted but we cannot is a 400 before any handler runs. */
export function jsonBodyGuard(req: Request, _res: Response, next: NextFunction): void {
  const problem = req.body === undefined ? undefined : jsonBodyProblem(req.body);
  next(problem ? new BadRequestException(problem) : undefined);
}
