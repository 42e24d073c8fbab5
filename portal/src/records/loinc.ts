// A LOINC code's shape and check digit, checked where a clinician types it —
// the same rule the ledger keeps (abci-app/core/src/tx/validate.rs, `loinc`),
// which never sees the code of a sealed lab order.

/** LOINC's mod-10 check digit (Luhn's) over the digits before the dash. */
export function loincCheckDigit(digits: string): number {
  let sum = 0;
  [...digits].reverse().forEach((c, i) => {
    const d = Number(c);
    sum += i % 2 === 0 ? Math.floor((2 * d) / 10) + ((2 * d) % 10) : d;
  });
  return (10 - (sum % 10)) % 10;
}

/** Why `code` is not a LOINC code, as a sentence; null when it is one. */
export function loincProblem(code: string): string | null {
  const m = /^(\d{1,7})-(\d)$/.exec(code);
  if (!m) return `"${code}" is not a LOINC code such as 8867-4`;
  const expected = loincCheckDigit(m[1]);
  if (Number(m[2]) !== expected) {
    return `"${code}" is not a LOINC code: the check digit of ${m[1]} is ${expected}, not ${m[2]} (a digit mistyped?)`;
  }
  return null;
}
