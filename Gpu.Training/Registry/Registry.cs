using System.Reflection;

namespace Gpu.Training;

/// <summary>
/// What a registry entry holds at least: the name the command line and the files use (e.g. "huber",
/// "rmsprop", "cosine", "conv") and a one-line description for help texts.
/// </summary>
public abstract record RegistryEntry(string Name, string Description);

/// <summary>
/// Implemented by each class (or record) that a registry lists: its <see cref="Entry"/> holds
/// everything about its name in one place, next to the code it describes. Nothing else lists it.
/// </summary>
public interface IRegistered<TEntry>
    where TEntry : RegistryEntry
{
    /// <summary>This type's entry.</summary>
    static abstract TEntry Entry { get; }
}

/// <summary>
/// Every entry of one kind (losses, optimizers, schedules, layers), found in this assembly from the
/// types that implement <see cref="IRegistered{TEntry}"/>: a new loss or optimizer is its own file,
/// and help texts and errors list what the registry holds.
/// </summary>
public static class Registry<TEntry>
    where TEntry : RegistryEntry
{
    private static readonly (Type Type, TEntry Entry)[] Registered = Discover();

    /// <summary>Every entry, by name in ordinal order.</summary>
    public static IReadOnlyList<TEntry> All { get; } = [.. Registered.Select(r => r.Entry)];

    /// <summary>Every name, in order, e.g. for <c>--loss</c>'s accepted values.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(e => e.Name)];

    /// <summary>The entry of <paramref name="name"/> (case-insensitive), or null.</summary>
    public static TEntry? Find(string name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The entry of <paramref name="name"/>, or an <see cref="ArgumentException"/> listing the known names: "unknown loss 'x' (known: bce, ce, mse)".</summary>
    public static TEntry Get(string name, string noun) =>
        Find(name) ?? throw new ArgumentException($"unknown {noun} '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>The entry of a registered type, or null when the type is not registered.</summary>
    public static TEntry? Of(Type type) => Registered.FirstOrDefault(r => r.Type == type).Entry;

    private static (Type, TEntry)[] Discover()
    {
        var read = typeof(Registry<TEntry>).GetMethod(nameof(Read), BindingFlags.NonPublic | BindingFlags.Static)!;
        var registered = typeof(Registry<TEntry>).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(IRegistered<TEntry>).IsAssignableFrom(t))
            .Select(t => (t, (TEntry)read.MakeGenericMethod(t).Invoke(null, null)!))
            .OrderBy(r => r.Item2.Name, StringComparer.Ordinal)
            .ToArray();
        var twice = registered.GroupBy(r => r.Item2.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            throw new InvalidOperationException($"The name '{twice.Key}' is registered by {string.Join(" and ", twice.Select(r => r.Item1.Name))}.");
        return registered;
    }

    private static TEntry Read<T>()
        where T : IRegistered<TEntry> => T.Entry;
}
