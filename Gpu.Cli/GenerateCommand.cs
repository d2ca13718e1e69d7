using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// `generate --model PATH --prompt TEXT --tokens N`: continues a prompt with a language model saved
/// by train --save on --text or --tokens data. The model file records how text becomes tokens, the
/// context and the vocabulary, so nothing else is needed. For byte models the prompt's UTF-8 bytes
/// are the tokens and the continuation is printed as it is drawn, its bytes decoded as UTF-8
/// (invalid sequences replaced by U+FFFD); for llm.c token models the prompt and continuation are ids.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create(CommandContext context)
    {
        var model = new Option<string>("--model") { Description = "A language model saved by train --save on --text or --tokens data.", HelpName = "PATH", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "The text to continue (its UTF-8 bytes are the tokens of a --text model).", HelpName = "TEXT" };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "The prompt as token ids, comma-separated (for --tokens models, whose text this program cannot tokenise).", HelpName = "IDS" };
        var tokens = new Option<int>("--tokens") { Description = "How many tokens to generate.", HelpName = "N", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "Divides the logits before the softmax: below 1 sharper, above 1 flatter; 0 takes the most likely token (greedy).", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int?>("--top-k") { Description = "Draw only from the K most likely tokens [all].", HelpName = "K" };
        var seed = new Option<int>("--seed") { Description = "Seeds the draws: the same seed and model give the same text.", DefaultValueFactory = _ => 0 };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda or opencl [GPU_DEVICE, else auto]." }
            .AcceptOnlyFromAmong("auto", "cpu", "cuda", "opencl");
        var command = new Command("generate", "Continue a prompt with a trained language model (as nanoGPT's sample.py: the last context tokens in, temperature, top-k).")
        {
            model, prompt, promptIds, tokens, temperature, topK, seed, device,
        };
        command.SetAction(parse => Run(context, parse.GetValue(model)!, parse.GetValue(prompt), parse.GetValue(promptIds), parse.GetValue(tokens),
            new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(seed)), parse.GetValue(device)));
        return command;
    }

    private static int Run(CommandContext context, string modelPath, string? prompt, string? promptIds, int count, SamplingOptions sampling, string? deviceName)
    {
        if (count < 0)
            throw new UsageException($"--tokens must be at least 0, not {count}.");
        if ((prompt is null) == (promptIds is null))
            throw new UsageException("give the prompt as --prompt TEXT or as --prompt-ids IDS (one of them).");
        try
        {
            sampling.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        InputFile.Require(modelPath);
        using var device = Device.Create(deviceName);
        using var saved = ModelFile.Load(modelPath, device);
        var tokenModel = TokenModel.Of(saved.Info)
            ?? throw new UsageException($"{modelPath} was not trained on token data (--text or --tokens): generate continues token sequences.");
        bool bytes = tokenModel.Kind == TokenStream.BytesKind;
        var ids = promptIds is not null ? ParseIds(promptIds) : bytes
            ? [.. Encoding.UTF8.GetBytes(prompt!).Select(b => (int)b)]
            : throw new UsageException($"{modelPath} was trained on llm.c token files, whose tokeniser this program does not have: give the prompt as --prompt-ids.");

        TokenGenerator generator;
        try
        {
            generator = new TokenGenerator(saved.Model, tokenModel.Vocabulary);
            _ = generator.Generate(ids, count, sampling); // validates the prompt before anything is printed
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{modelPath}: {e.Message}");
        }

        var clock = Stopwatch.StartNew();
        var decoder = Encoding.UTF8.GetDecoder(); // keeps a character's first bytes until its last arrives
        var one = new byte[1];
        var chars = new char[4];
        int generated = 0;
        foreach (int token in generator.Generate(ids, count, sampling))
        {
            if (bytes)
            {
                one[0] = (byte)token;
                context.Out.Write(chars, 0, decoder.GetChars(one, 0, 1, chars, 0, flush: false));
            }
            else
            {
                context.Out.Write(generated == 0 ? $"{token}" : $",{token}");
            }

            context.Out.Flush();
            generated++;
        }

        if (bytes)
            context.Out.Write(chars, 0, decoder.GetChars([], 0, 0, chars, 0, flush: true));
        context.Out.WriteLine();
        double seconds = clock.Elapsed.TotalSeconds;
        context.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Generated {generated} tokens in {seconds:F2} s ({generated / Math.Max(seconds, 1e-9):F0} tokens/s) on {device.Info.KindName}, context {generator.Context}, temperature {sampling.Temperature}{(sampling.TopK is { } k ? $", top-k {k}" : "")}, seed {sampling.Seed}"));
        return ExitCode.Ok;
    }

    private static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new UsageException($"--prompt-ids: '{parts[i]}' is not a token id (a whole number >= 0).");
        }

        return ids;
    }
}
