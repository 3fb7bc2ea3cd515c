/**
 * Seeded random charts for the differential test against the Go oracle
 * (packages/helm/tests/helm_differential.test.ts): a values.yaml of random documents
 * in the YAML forms charts use (anchors and merge keys, `~`, yes/no/on/off,
 * octal, hex, exponent floats, sexagesimal, timestamps, block strings, a bare
 * `.`), and one template per case drawn from the whole template grammar
 * (pipelines, variables and their scopes, range/with/if/else if, break and
 * continue, define/include/template/tpl, printf verbs, comparisons and
 * truthiness across types, whitespace trimming, comments, Helm's built-in
 * objects `.Chart`/`.Release`/`.Capabilities`/`.Template` and a template file
 * included by its path) over the function
 * table with typed random arguments. Functions whose results are random
 * (random strings, uuids, keys and certificates, the clock) appear only
 * behind a shape: their length, a pattern, a prefix.
 */
import { mulberry32 } from "../../../../tests/helpers/seeded.ts";

/** The seeded generator every test shares (mulberry32). */
export const rng: (seed: number) => () => number = mulberry32;

type Ty = "str" | "int" | "float" | "bool" | "list" | "map" | "any";

/** The generator's state for one case: randomness, variables in scope, defines of this case. */
class Gen {
  vars: { name: string; ty: Ty }[] = [];
  defines: string[] = [];
  /** Template files of this chart generated before this one: what `include (print $.Template.BasePath …)` may name. */
  earlier: string[] = [];
  includedFile = false;
  depth = 0;
  constructor(readonly r: () => number, readonly values: number, readonly id: string) {}

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  word(): string {
    return this.pick([
      "a",
      "b",
      "foo",
      "Bar",
      "hello world",
      "x-y_z",
      "",
      " pad ",
      "nginx:1.25",
      "ÄÖü",
      "a.b.c",
      "1",
      "0",
    ]);
  }

  strLit(): string {
    const w = this.word();
    return this.chance(0.2) ? "`" + w + "`" : JSON.stringify(w);
  }

  valuesRef(ty: Ty): string {
    const doc = `.Values.v${this.int(this.values)}`;
    const key: Record<Ty, string[]> = {
      str: ["s", "x", "dot", "word"],
      int: ["n", "x"],
      float: ["f", "n"],
      bool: ["b", "x"],
      list: ["l", "x"],
      map: ["m", "x"],
      any: ["s", "n", "f", "b", "l", "m", "x", "y", "z", "missing", "m.k", "m.deep.k", "l"],
    };
    return `${this.chance(0.15) ? "$" : ""}${doc}.${this.pick(key[ty])}`;
  }

  /**
   * Helm's built-in objects, as every real chart reads them (`.Chart.Name`, `.Release.Service`,
   * `.Capabilities.KubeVersion.Minor`, `.Template.BasePath`): their fields and methods, never the objects
   * themselves (Go prints those as struct dumps no chart uses). Mostly through `$`, sometimes through `.`, which
   * inside `range`/`with` is not the root (an error in both).
   */
  builtin(ty: Ty): string | undefined {
    const str = [
      "Chart.Name",
      "Chart.Version",
      "Chart.AppVersion",
      "Chart.Description",
      "Release.Name",
      "Release.Namespace",
      "Release.Service",
      "Capabilities.KubeVersion.Major",
      "Capabilities.KubeVersion.Minor",
      "Capabilities.KubeVersion.GitVersion",
      "Capabilities.KubeVersion.Version",
      "Template.Name",
      "Template.BasePath",
    ];
    const bool = ["Release.IsInstall", "Release.IsUpgrade"];
    const root = this.chance(0.8) ? "$." : ".";
    switch (ty) {
      case "str":
        return root + this.pick(str);
      case "bool":
        return this.chance(0.5)
          ? root + this.pick(bool)
          : `(${root}Capabilities.APIVersions.Has ${this.pick(['"apps/v1"', '"v1"', '"gen.example/v9"'])})`;
      case "int":
        return `${root}Release.Revision`;
      case "any":
        return root + this.pick([...str, ...bool, "Release.Revision"]);
      default:
        return undefined;
    }
  }

  variable(ty: Ty): string | undefined {
    const fits = this.vars.filter((v) => ty === "any" || v.ty === ty || v.ty === "any");
    return fits.length > 0 ? this.pick(fits).name : undefined;
  }

  /** An expression (operand) of roughly type `ty`. */
  expr(ty: Ty): string {
    this.depth++;
    try {
      if (this.depth > 4 || this.chance(0.3)) return this.atom(ty);
      return `(${this.call(ty)})`;
    } finally {
      this.depth--;
    }
  }

  atom(ty: Ty): string {
    const v = this.chance(0.3) ? this.variable(ty) : undefined;
    if (v) return v;
    const b = this.chance(0.08) ? this.builtin(ty) : undefined;
    if (b) return b;
    if (this.chance(0.35)) return this.valuesRef(ty);
    switch (ty) {
      case "str":
        return this.strLit();
      case "int":
        return this.pick(["0", "1", "2", "3", "-1", "7", "10", "42", "0x10", "'a'"]);
      case "float":
        return this.pick(["1.5", "0.0", "-2.25", "1e3", "3.0"]);
      case "bool":
        return this.pick(["true", "false"]);
      case "list":
        return `(list ${this.expr("any")} ${this.expr("any")})`;
      case "map":
        return `(dict ${this.strLit()} ${this.expr("any")} "k" ${this.expr("any")})`;
      case "any":
        return this.atom(this.pick(["str", "int", "float", "bool", "list", "map"] as const));
    }
  }

  /** A function call (a command), returning roughly `ty`. */
  call(ty: Ty): string {
    const e = (t: Ty) => this.expr(t);
    const table: Record<Ty, (() => string)[]> = {
      str: [
        () =>
          `${
            this.pick([
              "upper",
              "lower",
              "title",
              "untitle",
              "trim",
              "nospace",
              "snakecase",
              "kebabcase",
              "camelcase",
              "swapcase",
              "initials",
              "quote",
              "squote",
              "b64enc",
              "b32enc",
              "sha256sum",
              "sha1sum",
              "adler32sum",
              "toString",
              "base",
              "dir",
              "clean",
              "ext",
              "html",
              "js",
              "urlquery",
              "toJson",
              "toYaml",
              "toRawJson",
              "toPrettyJson",
              "kindOf",
              "typeOf",
              "print",
              "println",
              "regexQuoteMeta",
              'plural "one" "many"',
            ])
          } ${e("any")}`,
        () => `${this.pick(["trimPrefix", "trimSuffix", "trimAll"])} ${e("str")} ${e("str")}`,
        () => `replace ${e("str")} ${e("str")} ${e("str")}`,
        () =>
          `${this.pick(["repeat", "trunc", "abbrev", "indent", "nindent", "wrap"])} ${
            this.pick(["0", "1", "2", "3", "5", "-2"])
          } ${e("str")}`,
        () => `substr ${this.pick(["0", "1", "2", "-1"])} ${this.pick(["0", "2", "4", "-1", "9"])} ${e("str")}`,
        () => `cat ${e("any")} ${e("any")}`,
        () => `join ${e("str")} ${e("list")}`,
        () => `default ${e("any")} ${e("any")}`,
        () => `ternary ${e("any")} ${e("any")} ${e("bool")}`,
        () => `printf ${this.format()} ${e("any")} ${e("any")}`,
        () => `printf "%v|%s|%d|%q|%t|%x|%5.2f|%-4v|%03d|%+d|%T" ${e("any")}`,
        () => `include "${this.defineName()}" ${e("any")}`,
        () => `tpl ${JSON.stringify(this.tplText())} ${this.chance(0.5) ? "$" : "."}`,
        () =>
          `${this.pick(["regexReplaceAll", "regexReplaceAllLiteral"])} ${this.pick(['"[a-z]"', '"(o+)"', '"^"'])} ${
            e("str")
          } "<$1>"`,
        () =>
          `${this.pick(["regexFind", "mustRegexFind"])} ${this.pick(['"[a-z]+"', '"[0-9]"', '"^[^_]+"'])} ${e("str")}`,
        () => `${this.pick(["quote", "squote", "toString", 'default "d"', "print"])} nil`,
        () =>
          `tpl ${
            this.pick([`(join "," $.Values.tpls)`, "(index $.Values.tpls 0)", `(${this.valuesRef("str")} | toString)`])
          } $`,
        () => `b64dec (b64enc ${e("str")})`,
        () => `semver ${this.pick(['"1.2.3"', '"v2.0.0-rc.1+b"', '"1.2"'])} | toString`,
        () => `toYaml ${e("map")}`,
        () => `toJson ${e("any")}`,
        () => `${this.pick(["randAlphaNum", "randAlpha", "randNumeric", "randAscii"])} 7 | len | toString`,
        () => `uuidv4 | regexMatch "^[0-9a-f-]{36}$" | toString`,
        () => `now | date "2006" | len | toString`,
        () =>
          `${
            this.pick([
              'genPrivateKey "ecdsa"',
              'genPrivateKey "ed25519"',
              '(genCAWithKey "ca" 3 (genPrivateKey "ed25519")).Cert',
              '(genSelfSignedCertWithKey "x" nil nil 3 (genPrivateKey "ecdsa")).Cert',
              // RSA key generation costs tens of milliseconds on both sides: seldom.
              this.chance(0.1) ? '(genCA "ca" 3).Cert' : 'genPrivateKey "ecdsa"',
            ])
          } | hasPrefix "-----BEGIN" | toString`,
        () => `get ${e("map")} ${this.pick(['"k"', '"a"', '"zz"'])} | toString`,
        () => `index ${e("map")} "k" | toString`,
        () => `(fromYaml ${JSON.stringify(this.yamlSnippet())}) | toJson`,
        () => `hasKey (fromYaml ${this.pick(['"x"', '"- 1"', '""', '"a: [b"'])}) "Error" | toString`,
        () =>
          `(fromYamlArray ${JSON.stringify("[1, a, " + this.pick(["yes", "~", "0o7", ".", "1e2"]) + "]")}) | toJson`,
        () => `fromJson ${this.pick(['"{\\"a\\": 1.5, \\"b\\": [true]}"', '"{}"'])} | toJson`,
        () => `keys ${e("map")} | sortAlpha | join ","`,
        () => `list ${e("any")} ${e("any")} | toStrings | join "+"`,
        () => `${this.valuesRef("any")} | toYaml`,
        () =>
          `dig "m" "deep" "k" "none" ${this.chance(0.5) ? `.Values.v${this.int(this.values)}` : "(dict)"} | toString`,
      ],
      int: [
        () => `${this.pick(["add", "sub", "mul", "max", "min"])} ${e("int")} ${e("int")}`,
        () => `${this.pick(["div", "mod"])} ${e("int")} ${this.pick(["1", "2", "3", "-2"])}`,
        () => `${this.pick(["int", "int64", "atoi", "add1", "len"])} ${e("any")}`,
        () => `len ${e("list")}`,
        () => `len ${e("str")}`,
      ],
      float: [
        () => `${this.pick(["addf", "subf", "mulf", "maxf", "minf"])} ${e("any")} ${e("float")}`,
        () => `${this.pick(["float64", "floor", "ceil", "round"])} ${e("any")}`,
        () => `divf ${e("float")} ${this.pick(["2", "0.5", "4.0"])}`,
      ],
      bool: [
        () => `${this.pick(["eq", "ne", "lt", "le", "gt", "ge"])} ${e("any")} ${e("any")}`,
        () => `${this.pick(["eq", "ne", "lt", "ge"])} ${e("int")} ${e("int")}`,
        () => `eq ${e("str")} ${e("str")} ${e("str")}`,
        () =>
          this.chance(0.5)
            ? `${this.pick(["eq", "ne"])} ${e("any")} nil`
            : `${this.pick(["eq", "ne"])} nil ${e("any")}`,
        () => `${this.pick(['kindIs "invalid"', 'kindIs "slice"', 'typeIs "<nil>"'])} ${e("any")}`,
        () => `has (quote ${e("any")}) (list "" (quote ""))`,
        () => `${this.pick(["and", "or"])} ${e("any")} ${e("any")}`,
        () => `not ${e("any")}`,
        () =>
          `${this.pick(["empty", 'kindIs "map"', 'kindIs "string"', 'typeIs "float64"', 'typeIs "int"'])} ${e("any")}`,
        () => `${this.pick(["contains", "hasPrefix", "hasSuffix"])} ${e("str")} ${e("str")}`,
        () => `hasKey ${e("map")} ${this.pick(['"k"', '"a"', '"zz"'])}`,
        () => `has ${e("any")} ${e("list")}`,
        () => `deepEqual ${e("any")} ${e("any")}`,
        () => `regexMatch ${this.pick(['"^[a-z]+$"', '"o"', '"[0-9]"'])} ${e("str")}`,
        () =>
          `semverCompare ${this.pick(['">=1.2.0"', '"~1.2"', '"^2"', '"<1.0.0 || >=3"', '"<1.9-0"', '">= 1.33-0"'])} ${
            this.pick([
              '"1.2.3"',
              '"2.0.0"',
              '"3.1"',
              '"0.9.0"',
              "$.Capabilities.KubeVersion.Version",
              "$.Capabilities.KubeVersion.GitVersion",
            ])
          }`,
      ],
      list: [
        () => `list ${e("any")} ${e("any")} ${e("any")}`,
        () => `${this.pick(["rest", "initial", "reverse", "uniq", "compact", "sortAlpha"])} ${e("list")}`,
        () => `${this.pick(["append", "prepend", "without"])} ${e("list")} ${e("any")}`,
        () => `concat ${e("list")} ${e("list")}`,
        () => `splitList ${this.pick(['","', '" "', '"."'])} ${e("str")}`,
        () => `until ${this.pick(["0", "3", "-2"])}`,
        () => `untilStep ${this.pick(["0", "1"])} ${this.pick(["5", "7"])} ${this.pick(["2", "3"])}`,
        () => `pluck "k" ${e("map")} ${e("map")}`,
        () => `values (dict "a" 1 "b" 2) | sortAlpha`,
        () => `chunk 2 ${e("list")}`,
        () => `regexSplit "[,;]" ${e("str")} -1`,
      ],
      map: [
        () => `dict ${e("str")} ${e("any")} "k" ${e("any")}`,
        () => `${this.pick(["merge", "mergeOverwrite"])} (dict "k" ${e("any")} "a" 1) ${e("map")}`,
        () => `deepCopy ${e("map")}`,
        () => `pick ${e("map")} "k" "a"`,
        () => `omit ${e("map")} "k"`,
        () => `set (dict "a" 1) "k" ${e("any")}`,
        () => `unset (dict "a" 1 "k" 2) "a"`,
        () => `split "," ${e("str")}`,
        () => `fromYaml ${JSON.stringify(this.yamlSnippet())}`,
      ],
      any: [],
    };
    const kinds = ty === "any" ? (["str", "int", "float", "bool", "list", "map"] as const) : [ty];
    return this.pick(table[this.pick(kinds)])();
  }

  format(): string {
    const verbs = [
      "%s",
      "%v",
      "%d",
      "%q",
      "%t",
      "%x",
      "%X",
      "%o",
      "%5s",
      "%-5s|",
      "%.2f",
      "%6.1f",
      "%e",
      "%g",
      "%03d",
      "%+v",
      "%%",
      "%c",
      "%U",
      "%#v",
      "%T",
    ];
    return JSON.stringify(`${this.pick(verbs)}-${this.pick(verbs)}`);
  }

  yamlSnippet(): string {
    return this.pick([
      "a: 1\nb: [x, y]",
      "k: .",
      "k: yes\nn: ~",
      "k: 0o17\nh: 0x1F\ne: 1e3",
      "k: 1:20\nt: 2001-12-14",
      "k: |\n  line1\n  line2",
      "base: &b {k: 1}\nm: {<<: *b, j: 2}",
    ]);
  }

  tplText(): string {
    return this.pick([
      "{{ .Values.v0.s }}",
      '{{ upper "x" }}-{{ . | kindOf }}',
      "{{ $.Template.Name }}",
      "{{ if .Values }}v{{ end }}",
      '{{ define "inner" }}in{{ end }}{{ template "inner" }}',
    ]);
  }

  defineName(): string {
    if (this.defines.length > 0 && this.chance(0.8)) return this.pick(this.defines);
    return `${this.id}.none`;
  }

  /** A pipeline: an operand or call, maybe piped on. */
  pipeline(ty: Ty = "any"): string {
    let p = this.chance(0.5) ? this.call(ty) : this.expr(ty);
    const stages = this.int(3);
    for (let i = 0; i < stages; i++) {
      p += ` | ${
        this.pick([
          "toString",
          "upper",
          "quote",
          "len",
          'default "d"',
          "toJson",
          "kindOf",
          "print",
          'printf "%v!"',
          "trunc 5",
          "not",
          "empty",
          "toYaml",
          "b64enc",
          "squote",
          "indent 2",
          "typeOf",
          "list 1",
        ])
      }`;
    }
    return p;
  }

  action(inner: string): string {
    const l = this.chance(0.25) ? "- " : "", r = this.chance(0.25) ? " -" : "";
    return `{{${l}${inner}${r}}}`;
  }

  /** A block of template text at the current nesting. */
  block(n: number): string {
    let out = "";
    for (let i = 0; i < n; i++) out += this.statement();
    return out;
  }

  text(): string {
    return this.pick(["\n", " ", "x", "\n  ", "key: ", "- ", ":", "\t", "ü", "  \n\n"]);
  }

  statement(): string {
    this.depth++;
    const mark = this.vars.length;
    try {
      const choice = this.depth > 3 ? this.int(3) : this.int(13);
      switch (choice) {
        case 0:
          return this.text();
        case 1:
        case 2:
          return this.action(this.pipeline()) + this.text();
        case 3: {
          const name = `$v${this.vars.length}${this.int(100)}`;
          const ty = this.pick(["str", "int", "list", "map", "any", "bool"] as const);
          const s = this.action(`${name} := ${this.pipeline(ty)}`);
          this.vars.push({ name, ty });
          return s + this.action(name) + this.text();
        }
        case 4: {
          const v = this.variable("any");
          if (!v) return this.text();
          return this.action(`${v} = ${this.pipeline()}`) + this.action(v);
        }
        case 5: {
          let s = this.action(`if ${this.pipeline("bool")}`) + this.block(2);
          if (this.chance(0.4)) s += this.action(`else if ${this.pipeline("any")}`) + this.block(1);
          if (this.chance(0.5)) s += this.action("else") + this.block(1);
          this.vars.length = mark;
          return s + this.action("end");
        }
        case 6: {
          let s = this.action(`with ${this.pipeline("any")}`) + this.action(this.pick([".", "toJson .", "kindOf ."])) +
            this.block(1);
          if (this.chance(0.4)) s += this.action("else") + this.block(1);
          this.vars.length = mark;
          return s + this.action("end");
        }
        case 7: {
          // No integer ranges: Go >= 1.22 (Helm >= 3.15) iterates over an int, the oracle's Go refuses (KNOWN).
          const over = this.pick([
            this.expr("list"),
            this.expr("map"),
            "(until 4)",
            this.valuesRef(this.pick(["list", "map"] as const)),
          ]);
          const decl = this.pick(["", "$i, $e := ", "$e := "]);
          if (decl.includes("$i")) this.vars.push({ name: "$i", ty: "any" });
          if (decl) this.vars.push({ name: "$e", ty: "any" });
          let body = this.action(this.pick([".", "toJson .", "kindOf ."])) + this.block(1);
          if (this.chance(0.3)) {
            body += this.action(`if ${this.pipeline("bool")}`) + this.action(this.pick(["break", "continue"])) +
              this.action("end");
          }
          let s = this.action(`range ${decl}${over}`) + body;
          if (this.chance(0.3)) s += this.action("else") + "empty";
          this.vars.length = mark;
          return s + this.action("end");
        }
        case 8:
          return this.action(`/* ${this.pick(["c", "comment"])} */`) + this.text();
        case 9: {
          const name = this.defineName();
          return this.chance(0.5)
            ? this.action(`template "${name}" ${this.expr("any")}`)
            : this.action(`include "${name}" . | nindent 2`);
        }
        case 10:
          return this.action(`printf ${this.format()} ${this.expr("any")} ${this.expr("any")}`);
        case 11: {
          // A dict built through variables, as charts collect ports: the inner map fetched with `index` is the
          // same map (set on it shows through the outer one), `set` returns the map, `$_ :=` discards it.
          const m = `$m${this.vars.length}${this.int(100)}`;
          const k = this.pick(['"53"', "(toString 53)", this.strLit()]);
          let s = `{{- ${m} := dict -}}`;
          if (this.chance(0.7)) s += `{{- $_ := set ${m} ${k} (dict "a" false "b" ${this.expr("any")}) -}}`;
          s += `{{- $in := index ${m} ${k} -}}{{- if $in }}{{ $_ := set $in "a" ${this.expr("any")} }}{{ end -}}`;
          s += this.action(`range $key, $val := ${m}`) + this.action("$key") + ":" +
            this.action("$val | toJson") + this.action("end");
          return s + this.action(`${m} | toJson`) + this.text();
        }
        case 12: {
          // Another template file by its path, as charts checksum their ConfigMaps: at most once per file, and
          // only an earlier one, so includes cannot cycle.
          if (this.includedFile || this.earlier.length === 0) return this.text();
          this.includedFile = true;
          const file = this.pick(this.earlier.slice(-20));
          const root = this.pick(["$", "$", "."]);
          return this.action(
            `include (print ${root}.Template.BasePath "/${file}") ${this.pick(["$", "."])} | ${
              this.pick(["sha256sum", "nindent 2", "len", "trim"])
            }`,
          );
        }
        default:
          return this.action(`${this.pipeline("any")} | toString | trunc 20`);
      }
    } finally {
      this.depth--;
    }
  }
}

/** One random values document (YAML text, indented under its key). */
function valuesDoc(r: () => number, i: number): string {
  const g = new Gen(r, 1, "v");
  const scalar = () =>
    g.pick([
      ".",
      "~",
      "null",
      "yes",
      "no",
      "on",
      "Off",
      "y",
      "n",
      "true",
      "0o17",
      "017",
      "09",
      "0x1F",
      "0b101",
      "1e3",
      "-1.5e-3",
      ".5",
      "1_000",
      "1:20",
      "2001-12-14",
      "2001-12-14T21:59:43.10-05:00",
      "12345678901234567890",
      "'quoted'",
      '"dq \\t x"',
      "hello world",
      "nginx:1.25",
      "3",
      "-7",
      "0",
      "1.0",
      "+5",
      "+.5",
      "..",
      "1.10",
      "''",
    ]);
  const lines = [
    `v${i}: &v${i}`,
    `  s: ${g.pick(["hello", "'x y'", "nginx:1.25", '"a\\"b"', "Foo-Bar_baz"])}`,
    `  n: ${g.pick(["3", "0", "-2", "10", "1000000", "7"])}`,
    `  f: ${g.pick(["1.5", "0.25", "2.0", "1e6", "-0.5"])}`,
    `  b: ${g.pick(["true", "false", "yes", "off"])}`,
    `  dot: ${g.pick([".", "'.'", "..", "./x"])}`,
    `  word: ${g.pick(["a", "b", "c"])}`,
    `  x: ${scalar()}`,
    `  y: ${scalar()}`,
    `  z: ${
      g.pick([
        "|\n    line one\n    line two",
        ">\n    folded\n    text\n",
        "|-\n    keep\n",
        "[1, two, 3.0]",
        "{k: v, n: 1}",
        "",
        scalar(),
      ])
    }`,
    `  l: ${g.pick(["[a, b, c]", "[1, 2, 3]", "[]", "[yes, ~, .]", "\n  - x\n  - 2\n  - k: v"])}`,
    `  m: ${
      g.pick(["{k: v, a: 1}", "{}", "{k: ~}", `{k: ${scalar()}, deep: {k: x}}`, "\n    k: 1\n    deep:\n      k: .\n"])
    }`,
  ];
  if (i > 0 && g.chance(0.5)) lines.push(`  merged:\n    <<: *v${g.int(i)}\n    s: over`);
  return lines.join("\n");
}

/** A chart of `count` random templates (case ids `c{seed}-{n}`) and a random values.yaml. */
export function randomChart(seed: number, count: number): Record<string, string> {
  const r = rng(seed);
  const docs = 6;
  const values = Array.from({ length: docs }, (_, i) => valuesDoc(r, i)).join("\n");
  const files: Record<string, string> = {
    "Chart.yaml": `apiVersion: v2\nname: gen\nversion: 0.1.0\nappVersion: "1.0"\n`,
    "values.yaml":
      `${values}\nplain: .\ntpls: ['{{ .Release.Name }}-x', 'k8s.io/{{ .Values.v0.word }}', '{{ .Values.plain | quote }}']\nanchored: &top {a: 1}\nuser: {<<: *top, b: 2}\n`,
  };
  for (let n = 0; n < count; n++) {
    const id = `c${seed}-${n}`;
    const g = new Gen(r, docs, id);
    g.earlier = Object.keys(files).filter((f) => f.startsWith("templates/")).map((f) => f.slice("templates/".length));
    let helpers = "";
    for (let d = 0; d < g.int(3); d++) {
      const name = `${id}.d${d}`;
      helpers += `{{- define "${name}" -}}\n${g.block(2)}{{- end -}}\n`;
      g.defines.push(name);
      g.vars = [];
    }
    files[`templates/${id}.yaml`] = helpers + g.block(2 + g.int(5));
  }
  return files;
}
