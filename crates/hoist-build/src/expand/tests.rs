//! Cases from the behaviour of BuildKit's shell lexer (its `envVarTest`, `wordsTest`
//! and `lex_test.go` tables), rewritten as Rust tables.

use super::*;

/// `source | expected` with PWD=/home SHELL=bash KOREAN=한국어 NULL= set;
/// `error` means the expansion must fail.
const SINGLE_WORD: &str = r#"
hello                    | hello
he'll'o                  | hello
he'llo                   | error
he\'llo                  | he'llo
he\\'llo                 | error
abc\tdef                 | abctdef
"abc\tdef"               | abc\tdef
"abc\\tdef"              | abc\tdef
'abc\tdef'               | abc\tdef
hello\                   | hello
hello\\                  | hello\
"hello                   | error
"hello\"                 | error
"hel'lo"                 | hel'lo
'hello                   | error
'hello\'                 | hello\
'hello\there'            | hello\there
'hello\\there'           | hello\\there
"''"                     | ''
$.                       | $.
he$1x                    | hex
he$.x                    | he$.x
he$pwd.                  | he.
he$PWD                   | he/home
he\$PWD                  | he$PWD
he\\$PWD                 | he\/home
"he\$PWD"                | he$PWD
"he\\$PWD"               | he\/home
\${}                     | ${}
\${}aaa                  | ${}aaa
he\${}                   | he${}
he\${}xx                 | he${}xx
${}                      | error
${}aaa                   | error
he${}                    | error
he${}xx                  | error
he${hi}                  | he
he${hi}xx                | hexx
he${PWD}                 | he/home
he${.}                   | error
he${XXX:-000}xx          | he000xx
he${PWD:-000}xx          | he/homexx
he${XXX:-$PWD}xx         | he/homexx
he${XXX:-${PWD:-yyy}}xx  | he/homexx
he${XXX:-${YYY:-yyy}}xx  | heyyyxx
he${XXX:YYY}             | error
he${XXX?}                | error
he${XXX:?}               | error
he${PWD?}                | he/home
he${PWD:?}               | he/home
he${NULL?}               | he
he${NULL:?}              | error
he${XXX:+${PWD}}xx       | hexx
he${PWD:+${XXX}}xx       | hexx
he${PWD:+${SHELL}}xx     | hebashxx
he${XXX:+000}xx          | hexx
he${PWD:+000}xx          | he000xx
'he${XX}'                | he${XX}
"he${PWD}"               | he/home
"he'$PWD'"               | he'/home'
"$PWD"                   | /home
'$PWD'                   | $PWD
'\$PWD'                  | \$PWD
'"hello"'                | "hello"
'he\$PWD'                | he\$PWD
he${PWD                  | error
he${PWD:=000}xx          | error
he${PWD:+${PWD}:}xx      | he/home:xx
he${XXX:-\$PWD:}xx       | he$PWD:xx
he${XXX:-\${PWD}z}xx     | he${PWDz}xx
안녕하세요               | 안녕하세요
안'녕'하세요             | 안녕하세요
안'녕하세요              | error
안녕\'하세요             | 안녕'하세요
안\\'녕하세요            | error
안녕\t하세요             | 안녕t하세요
"안녕\t하세요"           | 안녕\t하세요
'안녕\t하세요            | error
안녕하세요\              | 안녕하세요
안녕하세요\\             | 안녕하세요\
"안녕'하세요"            | 안녕'하세요
안녕$1x                  | 안녕x
안녕$.x                  | 안녕$.x
안녕\\$PWD               | 안녕\/home
안녕${XXX:-${YYY:-yyy}}xx | 안녕yyyxx
안녕${PWD:+${SHELL}}xx   | 안녕bashxx
안녕${PWD                | error
$KOREAN                  | 한국어
안녕$KOREAN              | 안녕한국어
${{aaa}                  | error
${aaa}}                  | }
${aaa                    | error
${{aaa:-bbb}             | error
${aaa:-bbb}}             | bbb}
${aaa:-bbb               | error
${aaa:-bbb}              | bbb
${aaa:-${bbb:-ccc}}      | ccc
${aaa:-bbb ${foo}        | error
${aaa:-bbb {foo}         | bbb {foo
${:}                     | error
${:-bbb}                 | error
${:+bbb}                 | error
$999aaa                  | aaa
${999:-bbb}aaa           | bbbaaa
$001aaa                  | aaa
${001:+bbb}aaa           | aaa
$@@@                     | @@
${@:-bbb}aaa             | bbbaaa
"#;

fn env_home() -> BTreeMap<String, String> {
    [("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn table(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (a, b) = l.rsplit_once(" | ").expect("a | in every row");
            (a.trim(), b.trim_start())
        })
        .collect()
}

#[test]
fn single_words_as_buildkit() {
    let env = env_home();
    let rows = table(SINGLE_WORD);
    assert_eq!(rows.len(), 108);
    for (source, expected) in rows {
        let got = Lexer::new('\\').expand(source, &env);
        if expected == "error" {
            assert!(got.is_err(), "{source:?} gave {got:?}");
        } else {
            assert_eq!(got.map(|e| e.value), Ok(expected.to_string()), "{source:?}");
        }
    }
}

#[test]
fn positional_and_special_parameters_are_never_set() {
    let env = env_home();
    let lexer = Lexer::new('\\');
    for p in ["1", "2", "9", "999", "001", "@", "*", "#", "?", "-", "$", "!", "0"] {
        for (form, expected) in [
            (format!("${p}"), ""),
            (format!("${{{p}}}"), ""),
            (format!("${{{p}:+bbb}}"), ""),
            (format!("${{{p}:-bbb}}"), "bbb"),
        ] {
            // `$$` and `$-` and friends stand for themselves only inside braces.
            let got = lexer.expand(&form, &env).unwrap();
            assert_eq!(got.value, expected, "{form}");
        }
    }
}

/// `source | word,word,...` after `ENV`-style lines that set variables.
const WORDS: &str = r#"
hello | hello
hello${hi}bye | hellobye
ENV hi=hi
hello${hi}bye | hellohibye
ENV space=abc  def
hello${space}bye | helloabc,defbye
hello"${space}"bye | helloabc  defbye
hello "${space}"bye | hello,abc  defbye
ENV leading=  ab c
hello${leading}def | hello,ab,cdef
hello"${leading}" def | hello  ab c,def
hello"${leading}" | hello  ab c
hello${leading} | hello,ab,c
ENV trailing=ab c   
hello${trailing} | helloab,c
hello${trailing}d | helloab,c,d
hello"${trailing}"d | helloab c   d
hel"lo${trailing}" | helloab c   
hello" there  " | hello there  
hello there     | hello,there
hello\ there | hello there
hello" there | error
hello\" there | hello",there
hello"\\there" | hello\there
hello"\there" | hello\there
hello'\\there' | hello\\there
hello'\there' | hello\there
hello'$there' | hello$there
"#;

#[test]
fn words_split_after_expansion_as_buildkit() {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    for line in WORDS.lines().filter(|l| !l.is_empty()) {
        if let Some(kv) = line.strip_prefix("ENV ") {
            let (k, v) = kv.split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let (source, expected) = line.split_once('|').unwrap();
        let expected: Vec<&str> = expected.trim_start().split(',').collect();
        let got = Lexer::new('\\').expand(source.trim(), &env);
        let got = match got {
            Ok(e) => e.words,
            Err(_) => vec!["error".to_string()],
        };
        assert_eq!(got, expected, "{source:?}");
        checked += 1;
    }
    assert_eq!(checked, 24);
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Input, variables, the expected value (None: an error), matched and unmatched names.
type MatchCase<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>, &'a [&'a str], &'a [&'a str]);

#[test]
fn matched_and_unmatched_names() {
    let fb = [("FOO", "xxx"), ("BAR", "")];
    let cases: &[MatchCase] = &[
        ("x", &[("DUMMY", "d")], Some("x"), &[], &[]),
        ("x ${UNUSED}", &[("DUMMY", "d")], Some("x "), &[], &["UNUSED"]),
        ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &fb, Some("xxx  ccc"), &["FOO", "BAR"], &["BAZ"]),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &fb, Some("xxx bbb ccc"), &["FOO", "BAR"], &["BAZ"]),
        ("${FOO:-}", &fb, Some("xxx"), &["FOO"], &[]),
        ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &fb, Some("aaa bbb "), &["FOO", "BAR"], &["BAZ"]),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &fb, Some("aaa  "), &["FOO", "BAR"], &["BAZ"]),
        ("${FOO?aaa}", &fb, Some("xxx"), &["FOO"], &[]),
        ("${BAR?bbb}", &fb, Some(""), &["BAR"], &[]),
        ("${BAZ?ccc}", &fb, None, &[], &[]),
        ("${FOO:?aaa}", &fb, Some("xxx"), &["FOO"], &[]),
        ("${BAR:?bbb}", &fb, None, &[], &[]),
        ("${BAZ:?ccc}", &fb, None, &[], &[]),
        ("${BAZ:?}", &fb, None, &[], &[]),
        ("${FOO=aaa}", &fb, None, &[], &[]),
        ("${FOO=:aaa}", &fb, None, &[], &[]),
        ("${FOO=}", &[], None, &[], &[]),
        (r"${FOO#()[]{\}^$.\*\?|\\}", &[("FOO", r"()[]{}^$.*?|\x")], Some("x"), &["FOO"], &[]),
        (r"${FOO%%\**}", &[("FOO", "xx**")], Some("xx"), &["FOO"], &[]),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy"), &["FOO", "BAR"], &[]),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy"), &["FOO", "BAR"], &[]),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        (r"${FOO#?\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
        ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], Some(".xxyy."), &["FOO"], &["ABC"]),
        (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], Some("a"), &["FOO"], &[]),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy"), &["FOO", "BAR"], &[]),
        ("${FOO:#}", &[], None, &[], &[]),
        ("${FOO:##}", &[], None, &[], &[]),
        ("${FOO:%}", &[], None, &[], &[]),
        ("${FOO:%%}", &[], None, &[], &[]),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
            &["FOO", "NEEDLE"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")],
            Some("/foo/b/c.txt - /foo/c.txt"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[("FOO", "http://google.de"), ("NEEDLE", "http://"), ("REPLACEMENT", "https://")],
            Some("https://google.de"),
            &["FOO", "NEEDLE", "REPLACEMENT"],
            &[],
        ),
        (r"${FOO//\//\/}", &[("FOO", "/tmp/foo.txt")], Some(r"\/tmp\/foo.txt"), &["FOO"], &[]),
        ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], Some("wwxxyy"), &["FOO", "BAR"], &[]),
        ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO///}", &[], Some(""), &[], &["FOO"]),
    ];
    for (input, env, expected, matched, unmatched) in cases {
        let got = Lexer::new('\\').expand(input, &map(env));
        match expected {
            None => assert!(got.is_err(), "{input:?} gave {got:?}"),
            Some(expected) => {
                let got = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!(got.value, *expected, "{input:?}");
                assert_eq!(got.matched, set(matched), "{input:?}");
                assert_eq!(got.unmatched, set(unmatched), "{input:?}");
            }
        }
    }
}

#[test]
fn required_messages_expand_and_name_the_variable() {
    let lexer = Lexer::new('\\');
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    let plain = map(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = map(&[("VAR", ""), ("ARG", "x")]);
    let unset = map(&[("ARG", "x")]);
    assert_eq!(lexer.expand(no_empty, &plain).unwrap().value, "plain");
    let required = ExpandError::Required { name: "VAR".into(), message: "message herex".into() };
    assert_eq!(lexer.expand(no_empty, &empty), Err(required.clone()));
    assert_eq!(lexer.expand(no_empty, &unset), Err(required.clone()));
    assert_eq!(lexer.expand(no_unset, &plain).unwrap().value, "plain");
    assert_eq!(lexer.expand(no_unset, &empty).unwrap().value, "");
    assert_eq!(lexer.expand(no_unset, &unset), Err(required));
    assert_eq!(lexer.expand("${VAR?}", &unset).unwrap_err().to_string(), "VAR: is not allowed to be unset");
    assert_eq!(lexer.expand("${VAR:?}", &empty).unwrap_err().to_string(), "VAR: is not allowed to be empty");
}

#[test]
fn release_file_name_with_an_optional_part() {
    let release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let lexer = Lexer::new('\\');
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut m = map(&base);
        m.extend(map(extra));
        lexer.expand(release, &m).unwrap().value
    };
    assert_eq!(with(&[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]), "something-v1.2.3.linux-arm-v7.tar.gz");
    assert_eq!(with(&[("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]), "something-v1.2.3.linux-arm64.tar.gz");
    assert_eq!(with(&[("TARGETARCH", "arm64")]), "something-v1.2.3.linux-arm64.tar.gz");
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let env = map(&[("A", "1")]);
    assert_eq!(lexer.expand(r"C:\dir`$A", &env).unwrap().value, r"C:\dir$A");
    assert_eq!(lexer.expand(r#""a`"b""#, &env).unwrap().value, r#"a"b"#);
    assert_eq!(lexer.expand(r"a`", &env).unwrap().value, "a");
}

#[test]
fn raw_modes_for_heredoc_words() {
    let mut lexer = Lexer::new('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    lexer.skip_unset = true;
    let env = map(&[]);
    let got = lexer.expand(r#"CAT <<"EOF" << X\y <<- Z $U ${U:-d} ${U/a/b}"#, &env).unwrap();
    assert_eq!(got.words, ["CAT", r#"<<"EOF""#, r"<< X\y", "<<-", "Z", "$U", "${U:-d}", "${U/a/b}"]);
    let mut body = Lexer::new('\\');
    body.skip_quotes = true;
    let env = map(&[("N", "qwen")]);
    assert_eq!(body.expand("say \"$N\" 'x'\n", &env).unwrap().value, "say \"qwen\" 'x'\n");
}

#[test]
fn nesting_is_bounded() {
    let env = map(&[]);
    let deep = |n: usize| format!("{}x{}", "${A:-".repeat(n), "}".repeat(n));
    // The outer text is one level, each `${A:-` one more.
    assert_eq!(Lexer::new('\\').expand(&deep(MAX_NESTING), &env).unwrap().value, "x");
    assert_eq!(Lexer::new('\\').expand(&deep(MAX_NESTING + 1), &env), Err(ExpandError::TooDeep));
}
