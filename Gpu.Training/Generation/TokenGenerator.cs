namespace Gpu.Training;

/// <summary>How <see cref="TokenGenerator"/> picks each next token (nanoGPT's <c>generate</c>).</summary>
/// <param name="Temperature">Logits are divided by it before the softmax; 0 picks the most likely token (greedy).</param>
/// <param name="TopK">Only the K most likely tokens can be drawn (null: all).</param>
/// <param name="Seed">Seeds the draws, so a run repeats exactly.</param>
public sealed record SamplingOptions(double Temperature = 1.0, int? TopK = null, int Seed = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> for a negative or non-finite temperature or a top-k below 1.</summary>
    public void Validate()
    {
        if (!double.IsFinite(Temperature) || Temperature < 0)
            throw new ArgumentException($"the temperature must be a finite number >= 0 (0 is greedy), not {Temperature}.");
        if (TopK is < 1)
            throw new ArgumentException($"top-k must be at least 1, not {TopK}.");
    }
}

/// <summary>
/// Continues a sequence of token ids with a model whose output is per-position logits: input (N, T)
/// token ids, output (N, T, V). Each step feeds the last T tokens (at most; nanoGPT crops the same
/// way), takes the logits at the last real position, and draws the next token from their softmax.
/// <code>
/// var generator = new TokenGenerator(model, vocabulary: 256);
/// foreach (int token in generator.Generate(prompt, count: 200, new SamplingOptions(Temperature: 0.8, TopK: 40)))
///     Console.Write((char)token);
/// </code>
/// The model always takes exactly T tokens, so a prompt shorter than T is padded behind with id 0.
/// That cannot change the logits read: every layer that mixes positions (LSTM, GRU; causal
/// attention) only looks back, so position p sees tokens 0..p and never the padding after it.
/// </summary>
public sealed class TokenGenerator
{
    private readonly Sequential model;
    private readonly int context;
    private readonly int outputs;

    /// <param name="model">A model on a device taking (N, T) token ids and giving (N, T, V') logits with V' at least <paramref name="vocabulary"/>.</param>
    /// <param name="vocabulary">Ids drawn lie in [0, vocabulary): extra logit columns (a vocabulary padded for speed) are never drawn.</param>
    public TokenGenerator(Sequential model, int vocabulary)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.InputShape.Rank != 1 || model.OutputShape.Rank != 2 || model.OutputShape[0] != model.InputShape[0])
            throw new ArgumentException($"generating needs a model from token ids (N, T) to per-position logits (N, T, V); this one maps {Module.Describe(model.InputShape)} to {Module.Describe(model.OutputShape)}.");
        if (model.Modules.Select((m, i) => (m, i)).FirstOrDefault(p => !p.m.IsCausal) is { m: not null } mixing)
            throw new ArgumentException($"generating needs a causal model, but layer {mixing.i}, {mixing.m.Spec.Format()}, lets a position see later ones (train with causal attention).");
                context = model.InputShape[0];
        outputs = model.OutputShape[1];
        if (vocabulary < 1 || vocabulary > outputs)
            throw new ArgumentException($"the vocabulary ({vocabulary}) must be between 1 and the model's {outputs} logits per position.");
        this.model = model;
        Vocabulary = vocabulary;
    }

    /// <summary>Tokens the model sees at once (T).</summary>
    public int Context => context;

    /// <summary>Ids lie in [0, Vocabulary).</summary>
    public int Vocabulary { get; }

    /// <summary>
    /// Yields <paramref name="count"/> new tokens after <paramref name="prompt"/> (at least one token,
    /// each in [0, Vocabulary)), one at a time as each is drawn.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, int count, SamplingOptions sampling)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(sampling);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        sampling.Validate();
        if (prompt.Count == 0)
            throw new ArgumentException("the prompt is empty: generating continues at least one token.");
        for (int i = 0; i < prompt.Count; i++)
        {
            if (prompt[i] < 0 || prompt[i] >= Vocabulary)
                throw new ArgumentException($"prompt token {i} is {prompt[i]}, outside the vocabulary [0, {Vocabulary}).");
        }

        return Run(prompt, count, sampling);
    }

    private IEnumerable<int> Run(IReadOnlyList<int> prompt, int count, SamplingOptions sampling)
    {
        var tokens = new List<int>(prompt);
        var window = new float[context];
        var random = new Random(sampling.Seed);
        for (int n = 0; n < count; n++)
        {
            int start = Math.Max(0, tokens.Count - context);
            int length = tokens.Count - start;
            Array.Clear(window);
            for (int i = 0; i < length; i++)
                window[i] = tokens[start + i];
            var logits = model.Predict(window).AsSpan((length - 1) * outputs, Vocabulary);
            int next = Sample(logits, sampling, random);
            tokens.Add(next);
            yield return next;
        }
    }

    /// <summary>
    /// One draw from softmax(logits / temperature) over the top-k logits (torch.topk keeps ties with
    /// the k-th value, as nanoGPT's <c>logits &lt; v[-1]</c> mask does); greedy (the first largest) at temperature 0.
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, SamplingOptions sampling, Random random)
    {
        ArgumentNullException.ThrowIfNull(sampling);
        ArgumentNullException.ThrowIfNull(random);
        if (logits.IsEmpty)
            throw new ArgumentException("no logits to sample from.");
        for (int i = 0; i < logits.Length; i++)
        {
            if (!float.IsFinite(logits[i]))
                throw new ArgumentException($"the model gave a non-finite logit ({logits[i]}) for token {i}.");
        }

        if (sampling.Temperature == 0)
            return ArgMax(logits);

        // The k-th largest logit: everything below it is masked out.
        double floor = double.NegativeInfinity;
        if (sampling.TopK is { } k && k < logits.Length)
        {
            var sorted = logits.ToArray();
            Array.Sort(sorted);
            floor = sorted[^k];
        }

        double max = logits[ArgMax(logits)];
        var weights = new double[logits.Length];
        double total = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            weights[i] = logits[i] < floor ? 0 : Math.Exp((logits[i] - max) / sampling.Temperature);
            total += weights[i];
        }

        double u = random.NextDouble() * total;
        int last = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] == 0)
                continue;
            last = i;
            u -= weights[i];
            if (u < 0)
                return i;
        }

        return last; // rounding left u a hair above zero: the last drawable token
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
                best = i;
        }

        return best;
    }
}
