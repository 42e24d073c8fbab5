import { describe, expect, it } from "vitest";
import { loincProblem } from "../src/records/loinc";

describe("a LOINC code typed in the portal", () => {
  it("is accepted with its check digit, as the ledger accepts it", () => {
    // The directory's seed, a digit 0, LOINC's worked example (12345 → 5).
    for (const code of ["8867-4", "59408-5", "85354-9", "2339-0", "15074-8", "2345-7", "12345-5", "0-0"]) {
      expect(loincProblem(code), code).toBeNull();
    }
  });

  it("is refused for any one mistyped digit, with the digit it should have", () => {
    const good = "88674";
    for (let at = 0; at < good.length; at++) {
      for (let d = 0; d <= 9; d++) {
        if (good[at] === String(d)) continue;
        const typed = good.slice(0, at) + d + good.slice(at + 1);
        const code = `${typed.slice(0, 4)}-${typed.slice(4)}`;
        expect(loincProblem(code), code).toContain("check digit");
      }
    }
    // The ledger's sentence for the same mistake (validate.rs' test).
    expect(loincProblem("8876-4")).toContain("the check digit of 8876 is 5, not 4");
    expect(loincProblem("8687-4")).toContain("the check digit of 8687 is 6, not 4");
  });

  it("is refused when it has not LOINC's shape", () => {
    for (const shape of ["8867", "8867-", "-4", "8867-44", "12345678-9", "8867-x", "88a7-4", ""]) {
      expect(loincProblem(shape), shape).toContain("such as");
    }
  });
});
