using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using M2M.Ingest.Values;

namespace M2M.Ingest.Tests;

/// <summary>
/// <see cref="DecimalText"/> against the reference it replaces: the grammar checked by hand, then
/// <see cref="double.Parse(string, NumberStyles, IFormatProvider)"/>. Every comparison is bit for bit (so
/// negative zero and the last bit of the mantissa count).
/// </summary>
public sealed partial class DecimalTextTests
{
    [GeneratedRegex(@"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")]
    private static partial Regex PlainDecimal();

    [GeneratedRegex(@"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,5})?$")]
    private static partial Regex DecimalWithExponent();

    /// <summary>What the location parser did before <see cref="DecimalText"/>: the grammar, at most 40 digits, then double.TryParse.</summary>
    private static bool Reference(string text, bool allowExponent, out double value)
    {
        value = 0;
        var mantissa = allowExponent ? Regex.Replace(text, "[eE].*$", "") : text;
        if (!(allowExponent ? DecimalWithExponent() : PlainDecimal()).IsMatch(text) || mantissa.Count(char.IsAsciiDigit) > DecimalText.MaxDigits)
        {
            return false;
        }
        var styles = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | (allowExponent ? NumberStyles.AllowExponent : 0);
        return double.TryParse(text, styles, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    private static void AssertSameAsReference(string text, bool allowExponent)
    {
        var expectedOk = Reference(text, allowExponent, out var expected);
        var ok = DecimalText.TryParse(Encoding.ASCII.GetBytes(text), allowExponent, out var actual);
        Assert.True(expectedOk == ok, $"'{text}' (exponent {allowExponent}): reference {(expectedOk ? "accepts" : "refuses")}, DecimalText {(ok ? "accepts" : "refuses")}");
        if (ok)
        {
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual),
                $"'{text}': double.Parse {expected:R} (0x{BitConverter.DoubleToInt64Bits(expected):x16}), DecimalText {actual:R} (0x{BitConverter.DoubleToInt64Bits(actual):x16})");
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("+0")]
    [InlineData("-0.000")]
    [InlineData("0.0")]
    [InlineData("000")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("-.5")]
    [InlineData("+.5")]
    [InlineData("48.85661")]
    [InlineData("-179.999999")]
    [InlineData("+2.35222")]
    [InlineData("048.8500")]
    [InlineData("0.1")]
    [InlineData("0.30000000000000004")]
    [InlineData("1.05")]
    [InlineData("100.5")]
    [InlineData("0.00001")]
    [InlineData("0.0000000000000000000001")] // 10^-22: the last exact power
    [InlineData("0.00000000000000000000001")] // 10^-23: the slow path
    [InlineData("9007199254740992")] // 2^53: fast
    [InlineData("9007199254740993")] // 2^53 + 1: halfway between two doubles, rounds to even
    [InlineData("9007199254740995")]
    [InlineData("123456789012345678")]
    [InlineData("1234567890123456789")] // 19 digits
    [InlineData("12345678901234567890")] // 20 digits
    [InlineData("1000000000000000000000000000000000000000")] // 40 digits
    [InlineData("10000000000000000000000000000000000000000")] // 41 digits: refused
    [InlineData("0000000000000000000000000000000000000001")] // 40 digits, leading zeros count
    [InlineData("00000000000000000000000000000000000000001")] // 41 digits: refused
    [InlineData("48.850000000000000000000000000000000000")]
    [InlineData("1.0000000000000000000000000001")]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("-")]
    [InlineData("+")]
    [InlineData("-.")]
    [InlineData("1.2.3")]
    [InlineData("..1")]
    [InlineData("+-1")]
    [InlineData("--1")]
    [InlineData(" 1")]
    [InlineData("1 ")]
    [InlineData("1,5")]
    [InlineData("0x10")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1e5")]
    [InlineData("1E+05")]
    [InlineData("1e-05")]
    [InlineData("2.5e-3")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("e5")]
    [InlineData(".e5")]
    [InlineData("1e5.5")]
    [InlineData("1e123456")]
    [InlineData("1e308")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("1.7976931348623159e308")] // rounds to infinity: refused
    [InlineData("1e309")]
    [InlineData("1e-400")]
    [InlineData("-1e-400")]
    [InlineData("4.9e-324")]
    [InlineData("2.2250738585072014e-308")]
    [InlineData("9007199254740992e22")]
    [InlineData("9007199254740993e-22")]
    [InlineData("1e22")]
    [InlineData("1e23")]
    [InlineData("٣")]
    public void Edge_cases_parse_as_double_Parse_does(string text)
    {
        AssertSameAsReference(text, allowExponent: false);
        AssertSameAsReference(text, allowExponent: true);
    }

    [Fact]
    public void Random_decimal_strings_parse_to_the_same_double_as_double_Parse()
    {
        var random = new Random(20261128);
        var text = new StringBuilder();
        for (var n = 0; n < 200_000; n++)
        {
            text.Clear();
            switch (random.Next(3))
            {
                case 0: text.Append('-'); break;
                case 1 when random.Next(4) == 0: text.Append('+'); break;
            }
            AppendDigits(text, random, random.Next(4) == 0 ? random.Next(0, 3) : 0, zeros: true);
            AppendDigits(text, random, random.Next(0, 22), zeros: false);
            if (random.Next(4) != 0)
            {
                text.Append('.');
                AppendDigits(text, random, random.Next(0, 25), zeros: random.Next(3) == 0);
                if (random.Next(3) == 0)
                {
                    text.Append('0', random.Next(1, 8));
                }
            }
            var plain = text.ToString();
            AssertSameAsReference(plain, allowExponent: false);
            if (random.Next(2) == 0)
            {
                text.Append(random.Next(2) == 0 ? 'e' : 'E');
                switch (random.Next(3))
                {
                    case 0: text.Append('-'); break;
                    case 1: text.Append('+'); break;
                }
                text.Append(random.Next(0, random.Next(2) == 0 ? 40 : 400).ToString(CultureInfo.InvariantCulture));
            }
            AssertSameAsReference(text.ToString(), allowExponent: true);
        }
    }

    [Fact]
    public void Gps_coordinates_with_up_to_nine_decimals_parse_to_the_same_double_as_double_Parse()
    {
        var random = new Random(48);
        for (var n = 0; n < 200_000; n++)
        {
            var degrees = (random.NextDouble() * 360) - 180;
            var decimals = random.Next(0, 10);
            AssertSameAsReference(degrees.ToString("F" + decimals, CultureInfo.InvariantCulture), allowExponent: false);
        }
    }

    [Fact]
    public void Shortest_and_17_digit_forms_of_random_doubles_parse_back_to_the_same_double()
    {
        var random = new Random(17);
        Span<byte> bits = stackalloc byte[8];
        for (var n = 0; n < 100_000; n++)
        {
            random.NextBytes(bits);
            var value = BitConverter.ToDouble(bits);
            if (!double.IsFinite(value))
            {
                continue;
            }
            AssertSameAsReference(value.ToString("R", CultureInfo.InvariantCulture), allowExponent: true);
            AssertSameAsReference(value.ToString("E16", CultureInfo.InvariantCulture), allowExponent: true);
            var small = (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-8, 8));
            AssertSameAsReference(small.ToString("G17", CultureInfo.InvariantCulture), allowExponent: true);
            AssertSameAsReference(small.ToString("F12", CultureInfo.InvariantCulture), allowExponent: false);
        }
    }

    [Fact]
    public void Integers_around_two_to_the_53_and_above_round_halfway_cases_as_double_Parse()
    {
        var random = new Random(53);
        for (var n = 0; n < 50_000; n++)
        {
            // Between 2^52 and 2^63: consecutive doubles are 1 to 2048 apart, so odd integers fall between them.
            var integer = (ulong)random.NextInt64(1L << 52, long.MaxValue);
            var text = integer.ToString(CultureInfo.InvariantCulture);
            AssertSameAsReference(text, allowExponent: false);
            AssertSameAsReference("-" + text + ".0", allowExponent: false);
            AssertSameAsReference(text[..^3] + "." + text[^3..], allowExponent: false);
        }
    }

    [Fact]
    public void Parsing_allocates_nothing_on_the_fast_and_the_slow_path()
    {
        byte[][] inputs = ["48.85661"u8.ToArray(), "-2.35222"u8.ToArray(), "12345.678"u8.ToArray(), "9007199254740993"u8.ToArray(), "0.00000000000000000000000000001"u8.ToArray(), "1.5e-7"u8.ToArray()];
        double Run()
        {
            var sum = 0.0;
            for (var i = 0; i < 1000; i++)
            {
                foreach (var input in inputs)
                {
                    sum += DecimalText.TryParse(input, allowExponent: true, out var value) ? value : -1;
                }
            }
            return sum;
        }

        Run();
        var least = long.MaxValue;
        for (var i = 0; i < 5 && least > 0; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            Run();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    private static void AppendDigits(StringBuilder text, Random random, int count, bool zeros)
    {
        for (var i = 0; i < count; i++)
        {
            text.Append(zeros && random.Next(2) == 0 ? '0' : (char)('0' + random.Next(10)));
        }
    }
}
