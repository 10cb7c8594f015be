"""Embeds a text file in a C++ header as a string constant."""

def custos_embed_text(name, src, header, symbol, visibility = None):
    """Declares `name`, a cc_library whose `header` defines `symbol`.

    The header holds `inline constexpr char <symbol>[]` with the text of `src`,
    so a binary carries its defaults (the demo directory, the default policy)
    and needs no files beside it.
    """
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = [header],
        cmd = ("(echo '// Generated from $(location " + src + "); do not edit.'; " +
               "echo '#pragma once'; " +
               "printf '%s' 'inline constexpr char " + symbol + "[] = R\"custos_embed('; " +
               "cat $(location " + src + "); " +
               "echo ')custos_embed\";') > $@"),
    )
    native.cc_library(
        name = name,
        hdrs = [header],
        visibility = visibility,
    )
