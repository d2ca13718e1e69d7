using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Gpu.Training;

/// <summary>
/// The CSV reader behind <see cref="DataLoader"/>: a header line, then rows of numbers, parsed in
/// parallel straight into the destination arrays (no object per row). The file is cut into
/// segments at line ends; a first pass counts each segment's data lines (so the arrays are
/// allocated once, at their final size, and every line's number is known), a second parses each
/// segment into its rows. Files are read with positional reads in 1 MB chunks, so the file itself
/// never sits in the process's memory. Numbers in the common plain form (up to 7 significant digits
/// and a decimal exponent up to 10, e.g. <c>-1.53052</c>) are converted exactly by one float
/// division; anything else goes through .NET's correctly rounded parser, so results equal
/// <c>float.Parse</c> everywhere. A file holding a double quote anywhere is read by the sequential
/// RFC 4180 reader instead (quotes may hide line ends).
/// </summary>
internal static class CsvParser
{
    private const int ChunkBytes = 1 << 20;

    // How Python, R and spreadsheets write non-finite values that .NET does not parse.
    private static readonly HashSet<string> NonFiniteSpellings = ["inf", "+inf", "-inf", "nan", "-nan", "+infinity", "#num!"];

    private static readonly float[] PowersOfTen = [1f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f];

    /// <summary>The header line of a CSV file, and what the rest of the file needs to be read.</summary>
    public sealed class Header
    {
        internal Header(string path, string[] names, long dataStart, bool quoted)
        {
            Path = path;
            Names = names;
            DataStart = dataStart;
            Quoted = quoted;
        }

        public string Path { get; }

        public string[] Names { get; }

        internal long DataStart { get; }

        internal bool Quoted { get; }
    }

    /// <summary>Reads and checks the header (names non-empty and distinct), and whether the file needs the quote-aware reader.</summary>
    public static Header ReadHeader(string path)
    {
        InputFile.Require(path);
        using var handle = File.OpenHandle(path);
        long length = RandomAccess.GetLength(handle);
        if (length == 0)
            throw new DataFormatException(path, null, null, "the file is empty; expected a header line and rows of numbers.");
        // A quote in the header sends the whole file to the quote-aware reader; one in the data is
        // found by the parallel line count (ReadRows).
        var (line, dataStart) = FirstLine(path, handle, length);
        bool quoted = line.Contains('"');
        string[] names = quoted ? SylvanHeader(path) : [.. line.Split(',').Select(n => n.Trim())];

        if (names.Length == 0 || names.All(h => h.Length == 0))
            throw new DataFormatException(path, 1, null, "the header line is empty.");
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i].Length == 0)
                throw new DataFormatException(path, 1, i + 1, "the header has an empty column name.");
            if (Array.IndexOf(names, names[i]) != i)
                throw new DataFormatException(path, 1, i + 1, $"column '{names[i]}' appears twice in the header.");
        }

        return new Header(path, names, dataStart, quoted);
    }

    /// <summary>Where the data lines of a file lie: line-aligned segments and their line counts (the first pass).</summary>
    public sealed class Layout
    {
        internal Layout(Header header, List<(long Start, long End)> segments, (int DataLines, int Lines)[] counts, bool sequential)
        {
            Header = header;
            Segments = segments;
            Counts = counts;
            Sequential = sequential;
            Rows = checked(counts.Sum(c => c.DataLines));
        }

        public Header Header { get; }

        /// <summary>Data rows (blank lines not counted).</summary>
        public int Rows { get; }

        internal List<(long Start, long End)> Segments { get; }

        internal (int DataLines, int Lines)[] Counts { get; }

        // Quotes somewhere: read by the RFC 4180 reader, in one piece.
        internal bool Sequential { get; }
    }

    /// <summary>Counts the data rows, in parallel (and finds out whether a quote sends the file to the sequential reader).</summary>
    public static Layout Count(Header header)
    {
        long length = new FileInfo(header.Path).Length;
        if (header.Quoted)
            return new Layout(header, [(header.DataStart, length)], [(SylvanCount(header), 0)], sequential: true);
        using var handle = File.OpenHandle(header.Path);
        var segments = Segments(handle, header.DataStart, length);
        var counts = new (int DataLines, int Lines, bool Quote)[segments.Count];
        Parallel.For(0, segments.Count, s => counts[s] = CountLines(handle, segments[s].Start, segments[s].End));
        if (counts.Any(c => c.Quote))
            return new Layout(header, [(header.DataStart, length)], [(SylvanCount(header), 0)], sequential: true);
        return new Layout(header, segments, [.. counts.Select(c => (c.DataLines, c.Lines))], sequential: false);
    }

    /// <summary>
    /// Reads every data row (the second pass): column c's value goes to
    /// <c>outputs[destinations[c].Array][(firstRow + row) * widths[a] + destinations[c].Index]</c>.
    /// Every cell is checked (a number, finite), skipped columns too; the first bad cell is reported
    /// by file, line and column. <paramref name="progress"/> hears bytes and rows as segments finish.
    /// </summary>
    public static void Fill(Layout layout, TableFile.Destination[] destinations, int[] widths, float[][] outputs, int firstRow, Action<long, int>? progress = null)
    {
        var header = layout.Header;
        var segments = layout.Segments;
        if (layout.Sequential)
        {
            SylvanRows(header, destinations, widths, outputs, firstRow);
            progress?.Invoke(segments[0].End - segments[0].Start, layout.Rows);
            return;
        }

        var segmentRow = new int[segments.Count];
        var segmentLine = new int[segments.Count];
        segmentRow[0] = firstRow;
        for (int s = 1; s < segments.Count; s++)
        {
            segmentRow[s] = segmentRow[s - 1] + layout.Counts[s - 1].DataLines;
            segmentLine[s] = segmentLine[s - 1] + layout.Counts[s - 1].Lines;
        }

        // Each segment into its rows; the earliest error wins.
        using var handle = File.OpenHandle(header.Path);
        var errors = new DataFormatException?[segments.Count];
        Parallel.For(0, segments.Count, s =>
        {
            var parser = new SegmentParser(header, destinations, widths, outputs);
            errors[s] = parser.Parse(handle, segments[s].Start, segments[s].End, segmentRow[s], segmentLine[s] + 2);
            progress?.Invoke(segments[s].End - segments[s].Start, layout.Counts[s].DataLines);
        });
        if (errors.FirstOrDefault(e => e is not null) is { } error)
            throw error;
    }

    /// <summary>A cell as a float: the exact fast path, else .NET's parser; null when it is not a finite number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryParse(ReadOnlySpan<byte> cell, out float value)
    {
        if (TryParseFast(cell, out value))
            return true;
        return float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);
    }

    // Sign, digits, optional fraction and exponent, with at most 7 significant digits (so the
    // mantissa is exact in a float) and a decimal exponent within +-10 (an exact power of ten):
    // then one float operation gives the correctly rounded value, as float.Parse would.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryParseFast(ReadOnlySpan<byte> s, out float value)
    {
        value = 0;
        int i = 0, n = s.Length;
        if (n == 0)
            return false;
        bool negative = s[0] == '-';
        if (negative || s[0] == '+')
            i++;
        uint mantissa = 0;
        int digits = 0, exponent = 0, start = i;
        for (; i < n && (uint)(s[i] - '0') <= 9; i++)
        {
            if (mantissa != 0 || s[i] != '0')
                digits++;
            mantissa = mantissa * 10 + (uint)(s[i] - '0');
            if (digits > 7)
                return false;
        }

        bool any = i > start;
        if (i < n && s[i] == '.')
        {
            int fraction = ++i;
            for (; i < n && (uint)(s[i] - '0') <= 9; i++)
            {
                if (mantissa != 0 || s[i] != '0')
                    digits++;
                mantissa = mantissa * 10 + (uint)(s[i] - '0');
                exponent--;
                if (digits > 7)
                    return false;
            }

            any |= i > fraction;
        }

        if (!any)
            return false;
        if (i < n && (s[i] | 0x20) == 'e')
        {
            i++;
            bool negativeExponent = i < n && s[i] == '-';
            if (i < n && (s[i] == '-' || s[i] == '+'))
                i++;
            int e = 0, e0 = i;
            for (; i < n && (uint)(s[i] - '0') <= 9 && e < 1000; i++)
                e = e * 10 + (s[i] - '0');
            if (i == e0)
                return false;
            exponent += negativeExponent ? -e : e;
        }

        if (i != n || exponent < -10 || exponent > 10)
            return false;
        float f = mantissa;
        f = exponent < 0 ? f / PowersOfTen[-exponent] : f * PowersOfTen[exponent];
        value = negative ? -f : f;
        return true;
    }

    // Cuts [start, end) into about four segments per core, each ending just after a line end.
    private static List<(long Start, long End)> Segments(SafeFileHandle handle, long start, long end)
    {
        int count = Math.Max(1, (int)Math.Min(Environment.ProcessorCount * 4, (end - start) / (4 << 20) + 1));
        var cuts = new List<long> { start };
        Span<byte> probe = stackalloc byte[4096];
        for (int s = 1; s < count; s++)
        {
            long at = Math.Max(cuts[^1], start + (end - start) * s / count);
            // Forward to just after the next line end.
            while (at < end)
            {
                int read = RandomAccess.Read(handle, probe, at);
                int newline = probe[..read].IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    at += newline + 1;
                    break;
                }

                at += read;
            }

            if (at < end && at > cuts[^1])
                cuts.Add(at);
        }

        cuts.Add(end);
        return [.. cuts.Zip(cuts.Skip(1))];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int DataLines, int Lines, bool Quote) CountLines(SafeFileHandle handle, long start, long end)
    {
        var buffer = new byte[ChunkBytes];
        int dataLines = 0, lines = 0;
        bool quote = false;
        bool content = false; // the current line has a character other than white space
        for (long at = start; at < end;)
        {
            int read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - at)), at);
            if (read <= 0)
                break;
            var span = buffer.AsSpan(0, read);
            quote |= span.Contains((byte)'"');
            while (!span.IsEmpty)
            {
                int newline = span.IndexOf((byte)'\n');
                var part = newline < 0 ? span : span[..newline];
                content |= part.IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') >= 0;
                if (newline < 0)
                    break;
                lines++;
                if (content)
                    dataLines++;
                content = false;
                span = span[(newline + 1)..];
            }

            at += read;
        }

        if (content)
        {
            // A last line without a line end.
            dataLines++;
            lines++;
        }

        return (dataLines, lines, quote);
    }

    // The header line (a UTF-8 BOM skipped, a CR before the LF dropped) and where the data starts.
    private static (string Line, long DataStart) FirstLine(string path, SafeFileHandle handle, long length)
    {
        var bytes = new List<byte>();
        var buffer = new byte[64 << 10];
        long at = 0;
        while (at < length)
        {
            int read = RandomAccess.Read(handle, buffer, at);
            int newline = buffer.AsSpan(0, read).IndexOf((byte)'\n');
            bytes.AddRange(buffer.AsSpan(0, newline < 0 ? read : newline));
            at += newline < 0 ? read : newline + 1;
            if (newline >= 0)
                break;
        }

        var line = bytes.ToArray().AsSpan();
        if (line.StartsWith(Encoding.UTF8.Preamble))
            line = line[3..];
        if (line.EndsWith("\r"u8))
            line = line[..^1];
        try
        {
            return (new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(line), at);
        }
        catch (DecoderFallbackException)
        {
            throw new DataFormatException(path, 1, null, "the header line is not valid UTF-8.");
        }
    }

    private static DataFormatException BadCell(string path, int line, int column, string name, ReadOnlySpan<byte> cell)
    {
        // A cell is quoted up to 80 bytes: a 2 MB cell must not make a 2 MB error line.
        const int Quoted = 80;
        string text = Encoding.UTF8.GetString(cell[..Math.Min(cell.Length, Quoted)]).TrimEnd('\uFFFD');
        string shown = cell.Length <= Quoted ? $"'{text}'" : $"'{text}...' ({cell.Length:N0} bytes)";
        return NonFiniteSpellings.Contains(text.ToLowerInvariant()) || (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && !float.IsFinite(v))
            ? new DataFormatException(path, line, column, $"{shown} in column '{name}' is not a finite number (NaN and infinities are not allowed).")
            : new DataFormatException(path, line, column, $"{shown} in column '{name}' is not a number.");
    }

    /// <summary>Parses one segment's lines into their rows: no allocation per line or cell.</summary>
    private sealed class SegmentParser(Header header, TableFile.Destination[] destinations, int[] widths, float[][] outputs)
    {
        private byte[] buffer = new byte[ChunkBytes];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public DataFormatException? Parse(SafeFileHandle handle, long start, long end, int row, int line)
        {
            int carried = 0; // bytes of an unfinished line kept at the buffer's start
            for (long at = start; at < end || carried > 0;)
            {
                int read = at < end ? RandomAccess.Read(handle, buffer.AsSpan(carried, (int)Math.Min(buffer.Length - carried, end - at)), at) : 0;
                if (read == 0 && at < end)
                    throw new IOException($"{header.Path} became shorter while it was read.");
                at += read;
                var span = buffer.AsSpan(0, carried + read);
                bool last = at >= end;
                while (true)
                {
                    int newline = span.IndexOf((byte)'\n');
                    if (newline < 0 && !last)
                        break;
                    var text = newline < 0 ? span : span[..newline];
                    if (!text.IsEmpty || newline >= 0)
                    {
                        if (ParseLine(text, row, line) is { } error)
                            return error;
                        if (text.IndexOfAnyExcept((byte)' ', (byte)'\t', (byte)'\r') >= 0)
                            row++;
                        line++;
                    }

                    if (newline < 0)
                    {
                        span = [];
                        break;
                    }

                    span = span[(newline + 1)..];
                }

                carried = span.Length;
                if (carried > 0)
                {
                    span.CopyTo(buffer);
                    if (carried == buffer.Length)
                        Array.Resize(ref buffer, buffer.Length * 2); // a line longer than the buffer
                }

                if (last && carried == 0)
                    break;
            }

            return null;
        }

        // Compiled fully optimised at once: a load of a few seconds would otherwise run mostly as
        // tier-0 code. One forward scan per line: each cell's number is read where it stands and the
        // scan continues after the comma, without a separate search for it.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private DataFormatException? ParseLine(ReadOnlySpan<byte> text, int row, int line)
        {
            if (text.EndsWith("\r"u8))
                text = text[..^1];
            if (text.IndexOfAnyExcept((byte)' ', (byte)'\t') < 0)
                return null; // a blank line
            int columns = destinations.Length;
            int column = 0, pos = 0, n = text.Length;
            while (true)
            {
                int start = pos;
                if (!TryReadNumber(text, ref pos, out float value))
                {
                    // The slow path for this cell: its text up to the next comma, trimmed, through .NET's parser.
                    int comma = text[start..].IndexOf((byte)',');
                    pos = comma < 0 ? n : start + comma;
                    var cell = text[start..pos].Trim(" \t"u8);
                    if (column < columns && !TryParse(cell, out value))
                        return BadCell(header.Path, line, column + 1, header.Names[column], cell);
                }

                if (column < columns)
                {
                    var d = destinations[column];
                    if (d.Array >= 0)
                        outputs[d.Array][(long)row * widths[d.Array] + d.Index] = value;
                }

                column++;
                if (pos >= n)
                    break;
                pos++; // the comma
            }

            return column == columns ? null : new DataFormatException(header.Path, line, null, $"expected {columns} values (as in the header), found {column}.");
        }

        // A number in the exact fast form (see TryParseFast) between optional blanks, ending at a
        // comma or the line's end, read in one pass; on success pos is at that comma (or the end).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool TryReadNumber(ReadOnlySpan<byte> s, ref int pos, out float value)
        {
            value = 0;
            int i = pos, n = s.Length;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
            bool negative = i < n && s[i] == '-';
            if (i < n && (s[i] == '-' || s[i] == '+'))
                i++;
            uint mantissa = 0;
            int digits = 0, exponent = 0, first = i;
            for (; i < n && (uint)(s[i] - '0') <= 9; i++)
            {
                digits += mantissa != 0 || s[i] != '0' ? 1 : 0;
                mantissa = mantissa * 10 + (uint)(s[i] - '0');
            }

            bool any = i > first;
            if (i < n && s[i] == '.')
            {
                int fraction = ++i;
                for (; i < n && (uint)(s[i] - '0') <= 9; i++)
                {
                    digits += mantissa != 0 || s[i] != '0' ? 1 : 0;
                    mantissa = mantissa * 10 + (uint)(s[i] - '0');
                }

                exponent = fraction - i;
                any |= i > fraction;
            }

            // Exponents, long mantissas and anything unusual take the exact slow path.
            if (!any || digits > 7 || exponent < -10)
                return false;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
            if (i < n && s[i] != ',')
                return false;
            float f = mantissa;
            f = f / PowersOfTen[-exponent];
            value = negative ? -f : f;
            pos = i;
            return true;
        }
    }

    // ---- Files with quotes: the sequential RFC 4180 reader (Sylvan.Data.Csv), into the same arrays.

    private static string[] SylvanHeader(string path)
    {
        using var csv = Sylvan.Data.Csv.CsvDataReader.Create(path, SylvanOptions);
        return [.. Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim())];
    }

    // The data rows the RFC 4180 reader sees (blank lines not counted).
    private static int SylvanCount(Header header)
    {
        using var csv = Sylvan.Data.Csv.CsvDataReader.Create(header.Path, SylvanOptions);
        int rows = 0;
        while (csv.Read())
        {
            if (!(csv.RowFieldCount == 1 && csv.GetFieldSpan(0).Trim().IsEmpty))
                rows++;
        }

        return rows;
    }

    private static void SylvanRows(Header header, TableFile.Destination[] destinations, int[] widths, float[][] outputs, int firstRow)
    {
        using var csv = Sylvan.Data.Csv.CsvDataReader.Create(header.Path, SylvanOptions);
        int line = 1, row = firstRow;
        var cell = new byte[64];
        while (csv.Read())
        {
            line++;
            if (csv.RowFieldCount == 1 && csv.GetFieldSpan(0).Trim().IsEmpty)
                continue; // blank line
            if (csv.RowFieldCount != destinations.Length)
                throw new DataFormatException(header.Path, line, null, $"expected {destinations.Length} values (as in the header), found {csv.RowFieldCount}.");
            for (int c = 0; c < destinations.Length; c++)
            {
                var chars = csv.GetFieldSpan(c).Trim();
                int length = Encoding.UTF8.GetMaxByteCount(chars.Length);
                if (cell.Length < length)
                    cell = new byte[length];
                var bytes = cell.AsSpan(0, Encoding.UTF8.GetBytes(chars, cell));
                if (!TryParse(bytes, out float value))
                    throw BadCell(header.Path, line, c + 1, header.Names[c], bytes);
                var d = destinations[c];
                if (d.Array >= 0)
                    outputs[d.Array][(long)row * widths[d.Array] + d.Index] = value;
            }

            row++;
        }
    }

    // Lines of any length that fit in memory: the reader grows its buffer as a long line needs.
    private static Sylvan.Data.Csv.CsvDataReaderOptions SylvanOptions => new() { HasHeaders = true, Delimiter = ',', MaxBufferSize = 1 << 30 };
}
