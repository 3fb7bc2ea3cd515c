/**
 * Go's argument typing for template functions. text/template calls a
 * function only with arguments its Go signature accepts: `upper` a string,
 * `trunc` an int and a string, `hasKey` a map[string]interface{}; a value of
 * another type is an error ("wrong type for value; expected string; got
 * float64"), and so is a nil where a string, number or bool is wanted. Helm
 * refuses such templates, so we do too: a chart that renders here renders in
 * Helm. The table is Sprig 3.2.3's `TxtFuncMap()` as Go's reflection prints
 * it (plus Helm's and text/template's own functions), one letter per
 * parameter: s string, i int (int, int64, uint32), f float64, b bool, l
 * []interface{}, m map[string]interface{}, t time.Time, c a certificate, a
 * interface{}; `*` before the last makes it variadic.
 *
 * Not reproduced: Go tells int from int64 (`trunc (add 1 2) "x"` is an error
 * in Go, as `add` returns int64); here both are one integer type.
 * @module
 */
import { execError } from "./errors.ts";
import { isDataMap, isMap, kindOf, narrowType, typeOf, type Value } from "./gotypes.ts";

const SIGNATURES: Record<string, string> = {
  abbrev: "is",
  abbrevboth: "iis",
  add: "*a",
  add1: "a",
  add1f: "a",
  addf: "*a",
  adler32sum: "s",
  ago: "a",
  all: "*a",
  any: "*a",
  append: "aa",
  atoi: "s",
  b32dec: "s",
  b32enc: "s",
  b64dec: "s",
  b64enc: "s",
  base: "s",
  bcrypt: "s",
  biggest: "a*a",
  buildCustomCert: "ss",
  camelcase: "s",
  cat: "*a",
  ceil: "a",
  chunk: "ia",
  clean: "s",
  coalesce: "*a",
  compact: "a",
  concat: "*a",
  contains: "ss",
  date: "sa",
  dateInZone: "sas",
  dateModify: "st",
  date_in_zone: "sas",
  date_modify: "st",
  decryptAES: "ss",
  deepCopy: "a",
  deepEqual: "aa",
  default: "a*a",
  derivePassword: "issss",
  dict: "*a",
  dig: "*a",
  dir: "s",
  div: "aa",
  divf: "a*a",
  duration: "a",
  durationRound: "a",
  empty: "a",
  encryptAES: "ss",
  ext: "s",
  fail: "s",
  first: "a",
  float64: "a",
  floor: "a",
  fromJson: "s",
  fromJsonArray: "s",
  fromYaml: "s",
  fromYamlArray: "s",
  genCA: "si",
  genCAWithKey: "sis",
  genPrivateKey: "s",
  genSelfSignedCert: "slli",
  genSelfSignedCertWithKey: "sllis",
  genSignedCert: "sllic",
  genSignedCertWithKey: "sllics",
  get: "ms",
  getHostByName: "s",
  has: "aa",
  hasKey: "ms",
  hasPrefix: "ss",
  hasSuffix: "ss",
  hello: "",
  html: "*a",
  htmlDate: "a",
  htmlDateInZone: "as",
  htpasswd: "ss",
  include: "sa",
  indent: "is",
  initial: "a",
  initials: "s",
  int: "a",
  int64: "a",
  isAbs: "s",
  join: "sa",
  js: "*a",
  kebabcase: "s",
  keys: "*m",
  kindIs: "sa",
  kindOf: "a",
  last: "a",
  list: "*a",
  lookup: "ssss",
  lower: "s",
  max: "a*a",
  maxf: "a*a",
  merge: "m*m",
  mergeOverwrite: "m*m",
  min: "a*a",
  minf: "a*a",
  mod: "aa",
  mul: "a*a",
  mulf: "a*a",
  mustAppend: "aa",
  mustChunk: "ia",
  mustCompact: "a",
  mustDateModify: "st",
  mustDeepCopy: "a",
  mustFirst: "a",
  mustFromJson: "s",
  mustHas: "aa",
  mustInitial: "a",
  mustLast: "a",
  mustMerge: "m*m",
  mustMergeOverwrite: "m*m",
  mustPrepend: "aa",
  mustPush: "aa",
  mustRegexFind: "ss",
  mustRegexFindAll: "ssi",
  mustRegexMatch: "ss",
  mustRegexReplaceAll: "sss",
  mustRegexReplaceAllLiteral: "sss",
  mustRegexSplit: "ssi",
  mustRest: "a",
  mustReverse: "a",
  mustSlice: "a*a",
  mustToDate: "ss",
  mustToJson: "a",
  mustToPrettyJson: "a",
  mustToRawJson: "a",
  mustToYaml: "a",
  mustUniq: "a",
  mustWithout: "a*a",
  must_date_modify: "st",
  nindent: "is",
  nospace: "s",
  now: "",
  omit: "m*s",
  osBase: "s",
  osClean: "s",
  osDir: "s",
  osExt: "s",
  osIsAbs: "s",
  pick: "m*s",
  pluck: "s*m",
  plural: "ssi",
  prepend: "aa",
  print: "*a",
  printf: "s*a",
  println: "*a",
  push: "aa",
  quote: "*a",
  randAlpha: "i",
  randAlphaNum: "i",
  randAscii: "i",
  randBytes: "i",
  randInt: "ii",
  randNumeric: "i",
  regexFind: "ss",
  regexFindAll: "ssi",
  regexMatch: "ss",
  regexQuoteMeta: "s",
  regexReplaceAll: "sss",
  regexReplaceAllLiteral: "sss",
  regexSplit: "ssi",
  repeat: "is",
  replace: "sss",
  required: "sa",
  rest: "a",
  reverse: "a",
  round: "ai*f",
  semver: "s",
  semverCompare: "ss",
  seq: "*i",
  set: "msa",
  sha1sum: "s",
  sha256sum: "s",
  shuffle: "s",
  slice: "a*a",
  snakecase: "s",
  sortAlpha: "a",
  split: "ss",
  splitList: "ss",
  splitn: "sis",
  squote: "*a",
  sub: "aa",
  subf: "a*a",
  substr: "iis",
  swapcase: "s",
  ternary: "aab",
  title: "s",
  toDate: "ss",
  toDecimal: "a",
  toJson: "a",
  toPrettyJson: "a",
  toRawJson: "a",
  toString: "a",
  toStrings: "a",
  toToml: "a",
  toYaml: "a",
  toYamlPretty: "a",
  tpl: "sa",
  trim: "s",
  trimAll: "ss",
  trimPrefix: "ss",
  trimSuffix: "ss",
  trimall: "ss",
  trunc: "is",
  tuple: "*a",
  typeIs: "sa",
  typeIsLike: "sa",
  typeOf: "a",
  uniq: "a",
  unixEpoch: "t",
  unset: "ms",
  until: "i",
  untilStep: "iii",
  untitle: "s",
  upper: "s",
  urlJoin: "m",
  urlParse: "s",
  urlquery: "*a",
  uuidv4: "",
  values: "m",
  without: "a*a",
  wrap: "is",
  wrapWith: "iss",
};

const GO_TYPES: Record<string, string> = {
  s: "string",
  i: "int",
  f: "float64",
  b: "bool",
  l: "[]interface {}",
  m: "map[string]interface {}",
  t: "time.Time",
  c: "sprig.certificate",
};

function accepts(kind: string, value: Value): boolean {
  const nil = value === undefined || value === null;
  switch (kind) {
    case "s":
      return typeof value === "string";
    case "i":
      return typeof value === "bigint";
    case "f":
      return typeof value === "number" || typeof value === "bigint";
    case "b":
      return typeof value === "boolean";
    case "l":
      return nil || (Array.isArray(value) && narrowType(value) === undefined);
    case "m":
      return nil || (isDataMap(value) && narrowType(value) === undefined);
    case "t":
      return kindOf(value) === "struct";
    case "c":
      return isMap(value) && typeof value.Cert === "string" && typeof value.Key === "string";
  }
  return true;
}

/** Refuse a call Go would refuse: the wrong number of arguments, or one its parameter's type does not accept. */
export function checkArguments(name: string, args: Value[], fieldNil: boolean[] = []): void {
  const signature = SIGNATURES[name];
  if (signature === undefined) return;
  const variadic = signature.includes("*");
  const kinds = signature.replace("*", "");
  const fixed = variadic ? kinds.length - 1 : kinds.length;
  if (variadic ? args.length < fixed : args.length !== fixed) {
    throw execError(`wrong number of args for ${name}: want ${variadic ? "at least " : ""}${fixed} got ${args.length}`);
  }
  args.forEach((value, i) => {
    const kind = kinds[Math.min(i, kinds.length - 1)];
    if (fieldNil[i] && kind !== "a") {
      throw execError(`wrong type for value; expected ${GO_TYPES[kind]}; got interface {}`);
    }
    if (accepts(kind, value)) return;
    if (value === undefined || value === null) throw execError(`invalid value; expected ${GO_TYPES[kind]}`);
    throw execError(`wrong type for value; expected ${GO_TYPES[kind]}; got ${typeOf(value)}`);
  });
}
