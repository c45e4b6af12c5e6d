#!/usr/bin/env python3
"""Generate the synthetic demo sample that ships with sotriage.

The script composes 480 Stack-Overflow-style questions from the building blocks in
this file and writes them to src/sotriage/resources/sample/questions.csv.gz, with the
columns of train-sample.csv from the Kaggle competition "Predict Closed Questions on
Stack Overflow". All text is written for this project and is synthetic.

Each question is written in the style of its label, except for a fixed 15% that take
the style of another label, so that a text classifier cannot reach 100% accuracy.
Reputation, account age and answer count follow the label, not the style.

The output is byte-for-byte reproducible for a given seed: the generator uses only
random.Random(seed), the rows are sorted by PostId, and the gzip header has mtime 0.

Usage:
    python scripts/make_sample.py [--seed N] [--output PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DEFAULT_SEED = 20120731
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "src" / "sotriage" / "resources" / "sample" / "questions.csv.gz"
)

COLUMNS = [
    "PostId", "PostCreationDate", "OwnerUserId", "OwnerCreationDate",
    "ReputationAtPostCreation", "OwnerUndeletedAnswerCountAtPostTime",
    "Title", "BodyMarkdown", "Tag1", "Tag2", "Tag3", "Tag4", "Tag5",
    "PostClosedDate", "OpenStatus",
]

OPEN = "open"
NOT_A_REAL_QUESTION = "not a real question"
OFF_TOPIC = "off topic"
NOT_CONSTRUCTIVE = "not constructive"
TOO_LOCALIZED = "too localized"

# Label shares: open 52.9%, not a real question 17.9%, off topic 15.0%,
# not constructive 10.0%, too localized 4.2%.
LABEL_COUNTS = {
    OPEN: 254,
    NOT_A_REAL_QUESTION: 86,
    OFF_TOPIC: 72,
    NOT_CONSTRUCTIVE: 48,
    TOO_LOCALIZED: 20,
}
# Share of each label's questions written in the style of another label.
NOISE_FRACTION = 0.15
# Chance that a noisy closed question reads like an open one, not like another closed one.
NOISE_OPEN_STYLE_CHANCE = 0.5

DATE_FORMAT = "%m/%d/%Y %H:%M:%S"
FIRST_POST = datetime(2008, 8, 1)
LAST_POST = datetime(2012, 7, 31, 23, 59, 59)
SITE_LAUNCH = datetime(2008, 7, 31)


# ---------------------------------------------------------------------------
# Vocabulary shared by all technologies.
# Templates name their slots {ent}, {Ent}, {ents}, {Ents}, {a_ent} ("an order"), {fld},
# {Fld}, {n}, {big}, {hex}, {lib}, {ver}, {Lang} and a few prose slots that each
# composer adds. make_context() sets the shared slots and fill() replaces them.
# ---------------------------------------------------------------------------

ENTITIES = [
    "order", "customer", "invoice", "sensor", "ticket", "player", "playlist",
    "report", "account", "shipment", "message", "photo", "employee", "booking",
    "vehicle", "recipe", "course", "patient", "product", "comment", "device",
    "song", "task", "lesson", "parcel", "tenant", "reading", "vote", "bid",
    "route", "station", "label", "coupon", "review", "seat", "lead",
]

FIELDS = [
    "price", "status", "total", "quantity", "email", "title", "rating",
    "weight", "balance", "deadline", "score", "priority", "duration", "color",
    "discount", "region", "nickname", "capacity", "altitude", "currency",
]

OPERATING_SYSTEMS = [
    "Windows 7", "Windows XP", "Ubuntu 10.04", "Ubuntu 12.04", "Mac OS X 10.6",
    "Mac OS X 10.7", "Debian 6", "CentOS 5.8", "Windows Vista", "Fedora 16",
    "Windows Server 2008 R2",
]

APPS = [
    "small inventory tool", "REST backend", "desktop client", "reporting script",
    "browser extension", "payroll module", "game prototype", "nightly import job",
    "booking system for a clinic", "school timetable app", "internal dashboard",
    "command line utility", "plugin for our CMS", "survey site", "chat server",
    "price comparison crawler", "warehouse scanner app", "fitness tracker",
]

PURPOSES = [
    "imports {ents} from a CSV export every night",
    "shows a list of {ents} sorted by {fld}",
    "syncs {ents} with a partner's web service",
    "computes the total {fld} per month",
    "lets users edit {a_ent} and save it",
    "sends an email whenever {a_ent} changes its {fld}",
    "reads {ents} from a serial port and stores them",
    "exports {ents} to a spreadsheet for the accountants",
    "checks each {ent} against a list of rules before saving it",
    "caches {ents} in memory so the page loads faster",
]

ACTIONS = [
    "saving {a_ent}", "loading {ents} from the database", "parsing the {fld} column",
    "sorting {ents} by {fld}", "submitting the {ent} form",
    "deserializing the JSON response", "running the unit tests",
    "starting the app on a clean machine", "deleting {a_ent} with children",
    "reading a large file of {ents}", "updating the {fld} of {a_ent}",
]

SYMPTOMS = [
    "returns an empty list", "hangs forever", "gets very slow with more than {big} rows",
    "loses the last record", "prints garbled characters",
    "works locally but not on the server", "only works the first time",
    "ignores my settings", "uses 100% CPU", "returns the {fld} of the wrong {ent}",
    "rounds the {fld} to zero", "reports the wrong time zone",
]

ATTEMPTS = [
    "wrapping the call in a try/catch block",
    "clearing the cache and rebuilding the project",
    "printing the value right before the call",
    "stepping through it in the debugger",
    "moving the initialization into the constructor",
    "running it against a fresh copy of the database",
    "changing the file encoding to UTF-8",
    "upgrading {lib} to the latest release",
    "hard-coding the {fld} to {n}",
    "running the same code in a new, empty project",
    "checking for null before using the {ent}",
    "adding a short sleep before the call",
]

ATTEMPT_OUTCOMES = [
    "the error stays the same",
    "then the {fld} is always zero",
    "that only moves the error to the next line",
    "nothing changes",
    "it works once and fails again on the second run",
    "the error message is gone but the data is still wrong",
]

OPEN_QUESTIONS = [
    "What am I doing wrong?",
    "How can I make this work for {ents} that have no {fld}?",
    "Is there a cleaner way to do this, or is my approach wrong?",
    "Why does this happen, and how should I fix it?",
    "Any idea what causes this?",
    "Is this a bug in {lib} or in my code?",
    "How do I get the expected result without copying the whole list?",
    "What is the right way to handle this case?",
    "Where should I look next?",
]

EDITS = [
    "**Edit:** the same happens when I run it outside the IDE.",
    "**Edit:** I checked the table and every {ent} has a {fld}, so it is not missing data.",
    "**Update:** it only fails when more than {n} {ents} are loaded at once.",
    "**Edit 2:** I added the full stack trace above.",
    "EDIT: the logs show the request arrives twice.",
]


@dataclass(frozen=True)
class Tech:
    """One language or platform with the words and code used to write about it."""

    name: str
    tags: list[str]
    versions: list[str]
    libraries: list[str]
    apis: list[str]
    errors: list[str]
    tasks: list[str]
    snippets: list[str]
    choices: list[tuple[str, list[str]]]
    # False for SQL, Bash, R and CSS, which are rarely the language of a whole app.
    general_purpose: bool = True
    # True when `errors` are rendering problems (CSS), not messages printed by a program.
    errors_are_layout_problems: bool = False


TECHS = [
    Tech(
        name="Python",
        tags=["python", "python-2.7", "django", "list", "dictionary", "unicode",
              "regex", "numpy", "sqlalchemy", "flask", "csv"],
        versions=["Python 2.6", "Python 2.7.3", "Python 3.2", "Django 1.4", "Python 2.7.2"],
        libraries=["Django", "NumPy", "SQLAlchemy", "lxml", "Twisted", "Flask",
                   "matplotlib", "PyQt4"],
        apis=["`sorted()`", "`json.loads()`", "`datetime.strptime()`", "`csv.DictReader`",
              "`os.walk()`", "`re.sub()`", "`urllib2.urlopen()`", "`dict.get()`"],
        errors=[
            "TypeError: 'NoneType' object is not iterable",
            "KeyError: '{fld}'",
            "UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position {big}: "
            "ordinal not in range(128)",
            "AttributeError: '{Ent}' object has no attribute '{fld}'",
            "IndentationError: unexpected indent",
            "ImportError: No module named {ent}_utils",
            "ValueError: time data '{n}/31/2011' does not match format '%m/%d/%Y'",
        ],
        tasks=["group a list of dicts by a key", "read a CSV file with a header row",
               "sort a dictionary by value", "call a function every {n} seconds",
               "merge two lists of {ents} without duplicates",
               "strip accents from a unicode string"],
        snippets=[
            r"""def load_{ents}(path):
    {ents} = []
    with open(path) as handle:
        for line in handle:
            parts = line.strip().split(',')
            {ents}.append({'id': int(parts[0]), '{fld}': parts[{n}]})
    return {ents}""",
            r"""class {Ent}(object):
    def __init__(self, {fld}=None):
        self.{fld} = {fld}

    def total(self, others):
        return sum(o.{fld} for o in others if o.{fld} > {n})""",
            r"""by_{fld} = {}
for {ent} in {ents}:
    by_{fld}.setdefault({ent}['{fld}'], []).append({ent})
print sorted(by_{fld}.items(), key=lambda item: len(item[1]))[:{n}]""",
            r"""import json
import urllib2

response = urllib2.urlopen('http://localhost:8000/api/{ents}/')
data = json.loads(response.read())
for item in data['{ents}']:
    print item['{fld}'].upper()""",
        ],
        choices=[("web framework", ["Django", "Flask", "Pyramid", "web2py"]),
                 ("IDE", ["PyCharm", "Eclipse with PyDev", "Wing IDE", "Komodo"]),
                 ("GUI toolkit", ["PyQt", "wxPython", "Tkinter", "PyGTK"])],
    ),
    Tech(
        name="Java",
        tags=["java", "hibernate", "spring", "swing", "jdbc", "generics", "maven",
              "junit", "multithreading", "collections"],
        versions=["Java 6", "JDK 1.6.0_31", "Java 7", "Tomcat 6", "Spring 3.1"],
        libraries=["Hibernate", "Spring", "Swing", "JUnit", "Maven", "log4j", "Jackson"],
        apis=["`String.split()`", "`SimpleDateFormat.parse()`", "`HashMap.get()`",
              "`Collections.sort()`", "`Integer.parseInt()`", "`Thread.sleep()`"],
        errors=[
            "java.lang.NullPointerException\n"
            "    at com.example.{Ent}Service.update({Ent}Service.java:{n}4)",
            "java.lang.ClassCastException: java.lang.String cannot be cast to java.lang.Integer",
            "java.lang.OutOfMemoryError: Java heap space",
            "java.util.ConcurrentModificationException",
            "error: incompatible types: Object cannot be converted to {Ent}",
            "org.hibernate.LazyInitializationException: could not initialize proxy - no Session",
        ],
        tasks=["remove items from a list while iterating", "compare two dates ignoring the time",
               "read a properties file from the classpath", "run a task every {n} minutes",
               "sort a list of {ents} by {fld}"],
        snippets=[
            r"""public List<{Ent}> find{Ents}(Connection conn) throws SQLException {
    List<{Ent}> result = new ArrayList<{Ent}>();
    PreparedStatement stmt = conn.prepareStatement("SELECT * FROM {ents} WHERE {fld} > ?");
    stmt.setInt(1, {n});
    ResultSet rs = stmt.executeQuery();
    while (rs.next()) {
        result.add(new {Ent}(rs.getString("{fld}")));
    }
    return result;
}""",
            r"""for ({Ent} {ent} : {ents}) {
    if ({ent}.get{Fld}() == null) {
        {ents}.remove({ent});
    }
}""",
            r"""Map<String, Integer> counts = new HashMap<String, Integer>();
for (String key : keys) {
    counts.put(key, counts.get(key) + 1);
}
System.out.println(counts.get("{fld}"));""",
            r"""public synchronized void add{Ent}({Ent} {ent}) {
    queue.add({ent});
    notify();
}""",
        ],
        choices=[("IDE", ["Eclipse", "NetBeans", "IntelliJ IDEA"]),
                 ("web framework", ["Spring MVC", "Struts 2", "Play", "Wicket"]),
                 ("build tool", ["Maven", "Ant", "Gradle"])],
    ),
    Tech(
        name="C#",
        tags=["c#", ".net", "linq", "winforms", "wpf", "asp.net-mvc", "entity-framework",
              "wcf", "visual-studio-2010", "xaml"],
        versions=[".NET 3.5", ".NET 4.0", "Visual Studio 2010", "ASP.NET MVC 3", "EF 4.1"],
        libraries=["Entity Framework", "LINQ to SQL", "WPF", "WCF", "NUnit", "Json.NET"],
        apis=["`DateTime.Parse()`", "`FirstOrDefault()`", "`string.Format()`",
              "`Dictionary.Add()`", "`Task.Factory.StartNew()`"],
        errors=[
            "System.NullReferenceException: Object reference not set to an instance of an object.",
            "System.InvalidOperationException: Collection was modified; enumeration "
            "operation may not execute.",
            "System.FormatException: Input string was not in a correct format.",
            "Cross-thread operation not valid: Control 'label{n}' accessed from a thread "
            "other than the thread it was created on.",
            "The entity type {Ent} is not part of the model for the current context.",
        ],
        tasks=["update a label from a background thread", "bind a list of {ents} to a DataGridView",
               "serialize {a_ent} to XML", "group {ents} by {fld} with LINQ",
               "read a value from app.config"],
        snippets=[
            r"""var {ents} = db.{Ents}
    .Where(x => x.{Fld} > {n})
    .OrderBy(x => x.Id)
    .ToList();
foreach (var item in {ents})
{
    listBox1.Items.Add(item.{Fld}.ToString());
}""",
            r"""private void button1_Click(object sender, EventArgs e)
{
    int {fld} = int.Parse(textBox1.Text);
    label1.Text = Calculate{Fld}({fld}).ToString();
}""",
            r"""public class {Ent}Repository
{
    private readonly List<{Ent}> _{ents} = new List<{Ent}>();

    public {Ent} Find(int id)
    {
        return _{ents}.FirstOrDefault(x => x.Id == id);
    }
}""",
        ],
        choices=[("ORM", ["Entity Framework", "NHibernate", "Dapper"]),
                 ("unit testing framework", ["NUnit", "MSTest", "xUnit.net"]),
                 ("UI technology", ["WPF", "WinForms", "Silverlight"])],
    ),
    Tech(
        name="JavaScript",
        tags=["javascript", "jquery", "ajax", "json", "dom", "node.js", "backbone.js",
              "jquery-ui", "html", "events"],
        versions=["jQuery 1.7.2", "Firefox 12", "Chrome 19", "node 0.6.17", "IE 8"],
        libraries=["jQuery", "Backbone.js", "Underscore.js", "jQuery UI", "node.js", "D3"],
        apis=["`$.ajax()`", "`JSON.parse()`", "`setTimeout()`", "`Array.prototype.sort()`",
              "`parseInt()`", "`addEventListener()`"],
        errors=[
            "Uncaught TypeError: Cannot read property '{fld}' of undefined",
            "Uncaught ReferenceError: $ is not defined",
            "SyntaxError: missing ; before statement",
            "Uncaught SyntaxError: Unexpected token <",
            "TypeError: {ent}.{fld}.toFixed is not a function",
        ],
        tasks=["wait until several ajax calls finish", "sort an array of objects by {fld}",
               "format a number with two decimals", "bind a click handler to new elements",
               "debounce a keyup handler"],
        snippets=[
            r"""$(document).ready(function() {
    $('#{ent}-form').submit(function(e) {
        e.preventDefault();
        $.post('/{ents}/save', $(this).serialize(), function(data) {
            $('#{fld}').text(data.{fld});
        });
    });
});""",
            r"""var {ents} = [];
for (var i = 0; i < rows.length; i++) {
    {ents}.push({ id: rows[i].id, {fld}: rows[i].{fld} });
}
console.log({ents}[{n}].{fld});""",
            r"""function update{Fld}(el) {
    var value = parseInt(el.value);
    document.getElementById('{fld}-total').innerHTML = value * {n};
}""",
            r"""for (var i = 0; i < {n}; i++) {
    setTimeout(function() {
        console.log('{ent} ' + i);
    }, 100);
}""",
        ],
        choices=[("MVC framework", ["Backbone.js", "Ember.js", "Knockout", "AngularJS"]),
                 ("charting library", ["Highcharts", "Flot", "D3", "Raphael"])],
    ),
    Tech(
        name="PHP",
        tags=["php", "mysql", "codeigniter", "zend-framework", "pdo", "wordpress",
              "session", "forms", "cakephp", "symfony2"],
        versions=["PHP 5.3", "PHP 5.2.17", "CodeIgniter 2.1", "WordPress 3.3", "PHP 5.4"],
        libraries=["CodeIgniter", "Zend Framework", "PDO", "Symfony", "CakePHP", "Smarty"],
        apis=["`mysql_query()`", "`json_encode()`", "`strtotime()`", "`array_merge()`",
              "`preg_match()`", "`file_get_contents()`"],
        errors=[
            "Warning: mysql_fetch_array() expects parameter 1 to be resource, boolean given "
            "in /var/www/{ents}.php on line {n}",
            "Parse error: syntax error, unexpected T_STRING in {ent}.php on line {n}",
            "Fatal error: Call to a member function get_{ents}() on a non-object",
            "Warning: Cannot modify header information - headers already sent",
            "Notice: Undefined index: {fld}",
        ],
        tasks=["upload an image and resize it", "keep a user logged in between pages",
               "escape user input before an INSERT", "paginate a list of {ents}",
               "send mail with an attachment"],
        snippets=[
            r"""<?php
$result = mysql_query("SELECT * FROM {ents} WHERE {fld} = '" . $_GET['{fld}'] . "'");
while ($row = mysql_fetch_array($result)) {
    echo $row['{fld}'] . "<br />";
}
?>""",
            r"""class {Ent}_model extends CI_Model {
    public function get_{ents}($limit = {n}) {
        $query = $this->db->get('{ents}', $limit);
        return $query->result();
    }
}""",
            r"""session_start();
if (!isset($_SESSION['{ent}_id'])) {
    header('Location: login.php');
}
$_SESSION['{fld}'] = $_POST['{fld}'];""",
        ],
        choices=[("PHP framework", ["CodeIgniter", "Zend Framework", "Symfony", "CakePHP", "Yii"]),
                 ("template engine", ["Smarty", "Twig", "plain PHP"])],
    ),
    Tech(
        name="C++",
        tags=["c++", "stl", "boost", "qt", "templates", "pointers", "c++11", "opencv",
              "visual-c++", "g++"],
        versions=["g++ 4.6", "Visual C++ 2010", "clang 3.0", "Qt 4.8", "Boost 1.49"],
        libraries=["Boost", "Qt", "OpenCV", "the STL", "SFML", "Poco"],
        apis=["`std::sort`", "`std::map::find`", "`std::getline`", "`boost::asio::read`",
              "`std::vector::erase`"],
        errors=[
            "undefined reference to `{Ent}::{fld}() const'",
            "Segmentation fault (core dumped)",
            "error C2664: cannot convert parameter 1 from 'const char *' to 'std::string &'",
            "error: expected ';' before '}' token",
            "*** glibc detected *** ./{ent}: double free or corruption (fasttop): 0x{hex}",
        ],
        tasks=["erase elements from a vector while iterating", "read a file into a string",
               "use a custom comparator with std::set", "split a string on whitespace",
               "pass a member function as a callback"],
        snippets=[
            r"""class {Ent} {
public:
    {Ent}(int {fld}) : {fld}_({fld}) {}
    int {fld}() const;
private:
    int {fld}_;
};

std::vector<{Ent}> {ents};
{ents}.push_back({Ent}({n}));""",
            r"""template <typename T>
T sum_{fld}(const std::vector<T>& items) {
    T total = 0;
    for (size_t i = 0; i <= items.size(); ++i)
        total += items[i];
    return total;
}""",
            r"""{Ent}* make_{ent}() {
    {Ent} local({n});
    return &local;
}""",
        ],
        choices=[("GUI library", ["Qt", "wxWidgets", "GTK+", "MFC"]),
                 ("unit testing framework", ["Google Test", "Boost.Test", "CppUnit"])],
    ),
    Tech(
        name="C",
        tags=["c", "pointers", "malloc", "gcc", "linux", "arrays", "struct", "pthreads",
              "string", "segmentation-fault"],
        versions=["gcc 4.4", "gcc 4.6.3", "MinGW", "Visual Studio 2008"],
        libraries=["pthreads", "libcurl", "SDL", "glib", "ncurses"],
        apis=["`fgets()`", "`strtok()`", "`realloc()`", "`scanf()`", "`memcpy()`"],
        errors=[
            "Segmentation fault",
            "warning: implicit declaration of function 'strdup'",
            "warning: assignment from incompatible pointer type",
            "*** stack smashing detected ***: ./{ent}_reader terminated",
            "warning: function returns address of local variable",
        ],
        tasks=["return a string from a function", "read a line of unknown length",
               "allocate a 2D array dynamically", "compare two structs",
               "parse command line flags"],
        snippets=[
            r"""char *read_{fld}(FILE *fp) {
    char buffer[{n}0];
    fgets(buffer, sizeof buffer, fp);
    return buffer;
}""",
            r"""struct {ent} {
    int id;
    double {fld};
};

struct {ent} *{ents} = malloc({n} * sizeof(struct {ent} *));""",
            r"""int main(void) {
    int value, count = 0;
    while (scanf("%d", &value) == 1) {
        count++;
    }
    printf("%d\n", count);
    return 0;
}""",
        ],
        choices=[("C book", ["K&R", "C Programming: A Modern Approach", "Expert C Programming"]),
                 ("compiler", ["gcc", "clang", "the Intel compiler"])],
    ),
    Tech(
        name="Ruby",
        tags=["ruby", "ruby-on-rails", "rails-3", "activerecord", "rspec", "devise",
              "ruby-1.9.3", "sinatra", "haml", "gem"],
        versions=["Rails 3.2", "Ruby 1.9.3", "Rails 3.0.9", "Ruby 1.8.7", "Rails 3.1"],
        libraries=["ActiveRecord", "RSpec", "Devise", "Sinatra", "Capybara", "Paperclip"],
        apis=["`find_by_sql`", "`each_slice`", "`update_attributes`", "`inject`",
              "`respond_to`"],
        errors=[
            "NoMethodError: undefined method `{fld}' for nil:NilClass",
            "ActiveRecord::RecordNotFound: Couldn't find {Ent} with id={big}",
            "NameError: uninitialized constant {Ent}sController",
            "LoadError: cannot load such file -- {ent}_helper",
            "ActionView::Template::Error (undefined local variable or method `{ent}')",
        ],
        tasks=["validate that {fld} is unique per user", "eager load nested associations",
               "stub a class method in RSpec", "send {a_ent} email in the background"],
        snippets=[
            r"""class {Ent}sController < ApplicationController
  def index
    @{ents} = {Ent}.where("{fld} > ?", {n}).order(:created_at)
  end
end""",
            r"""def total_{fld}
  {ents}.inject(0) { |sum, {ent}| sum + {ent}.{fld} }
end""",
            r"""<% @{ents}.each do |{ent}| %>
  <li><%= link_to {ent}.{fld}, {ent}_path({ent}) %></li>
<% end %>""",
        ],
        choices=[("authentication gem", ["Devise", "Authlogic", "Clearance"]),
                 ("testing tool", ["RSpec", "Test::Unit", "Cucumber"])],
    ),
    Tech(
        name="Objective-C",
        tags=["objective-c", "iphone", "ios", "xcode", "uitableview", "core-data",
              "cocoa-touch", "ios5", "ipad", "uinavigationcontroller"],
        versions=["iOS 5.1", "Xcode 4.3", "iOS 4.3", "Xcode 4.2", "iOS 5.0"],
        libraries=["Core Data", "UIKit", "AFNetworking", "ASIHTTPRequest", "Core Animation"],
        apis=["`reloadData`", "`performSelector:withObject:afterDelay:`",
              "`NSDateFormatter`", "`dispatch_async`", "`NSUserDefaults`"],
        errors=[
            "-[__NSCFString {fld}]: unrecognized selector sent to instance 0x{hex}",
            "EXC_BAD_ACCESS (code=1, address=0x{hex})",
            "Terminating app due to uncaught exception 'NSInternalInconsistencyException'",
            "this class is not key value coding-compliant for the key {fld}.",
            "*** -[__NSArrayI objectAtIndex:]: index {n} beyond bounds [0 .. 0]",
        ],
        tasks=["pass data back to the previous view controller", "resize a UIImage",
               "load images in a table view without blocking", "store {a_ent} in Core Data"],
        snippets=[
            r"""- (UITableViewCell *)tableView:(UITableView *)tableView cellForRowAtIndexPath:(NSIndexPath *)indexPath {
    UITableViewCell *cell = [tableView dequeueReusableCellWithIdentifier:@"{Ent}Cell"];
    {Ent} *{ent} = [self.{ents} objectAtIndex:indexPath.row];
    cell.textLabel.text = {ent}.{fld};
    return cell;
}""",
            r"""NSFetchRequest *request = [[NSFetchRequest alloc] init];
request.entity = [NSEntityDescription entityForName:@"{Ent}" inManagedObjectContext:context];
request.predicate = [NSPredicate predicateWithFormat:@"{fld} > %d", {n}];
NSArray *results = [context executeFetchRequest:request error:nil];""",
            r"""- (void)viewDidLoad {
    [super viewDidLoad];
    self.{fld}Label.text = [NSString stringWithFormat:@"%d", self.{ent}.{fld}];
}""",
        ],
        choices=[("networking library", ["AFNetworking", "ASIHTTPRequest", "RestKit"]),
                 ("cross-platform tool", ["PhoneGap", "Titanium", "MonoTouch"])],
    ),
    Tech(
        name="Android",
        tags=["android", "java", "listview", "sqlite", "android-intent", "android-asynctask",
              "android-layout", "eclipse", "android-activity", "gps"],
        versions=["Android 2.3", "Android 4.0", "API level 8", "Android 2.2", "ADT 18"],
        libraries=["the Android SDK", "SQLiteOpenHelper", "Google Maps API", "AsyncTask",
                   "ActionBarSherlock"],
        apis=["`startActivityForResult()`", "`notifyDataSetChanged()`", "`findViewById()`",
              "`getSharedPreferences()`", "`requestLocationUpdates()`"],
        errors=[
            "java.lang.RuntimeException: Unable to start activity ComponentInfo"
            "{com.example.{ents}/com.example.{ents}.MainActivity}",
            "android.os.NetworkOnMainThreadException",
            "android.view.WindowManager$BadTokenException: Unable to add window",
            "android.content.res.Resources$NotFoundException: String resource ID #0x{n}",
            "java.lang.IllegalStateException: The content of the adapter has changed but "
            "ListView did not receive a notification",
        ],
        tasks=["refresh a ListView after inserting a row", "keep state when the screen rotates",
               "download a file in the background", "show {a_ent} on a map"],
        snippets=[
            r"""@Override
protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.{ent}_list);
    ListView list = (ListView) findViewById(R.id.{ents});
    list.setAdapter(new {Ent}Adapter(this, load{Ents}()));
}""",
            r"""URL url = new URL("http://10.0.2.2/api/{ents}");
HttpURLConnection conn = (HttpURLConnection) url.openConnection();
BufferedReader reader = new BufferedReader(new InputStreamReader(conn.getInputStream()));
String json = reader.readLine();""",
            r"""Cursor c = db.rawQuery("SELECT {fld} FROM {ents} WHERE _id = ?",
        new String[] { String.valueOf(id) });
c.moveToFirst();
textView.setText(c.getString({n}));""",
        ],
        choices=[("ad network", ["AdMob", "InMobi", "Millennial Media"]),
                 ("IDE", ["Eclipse with ADT", "IntelliJ IDEA", "MOTODEV Studio"])],
    ),
    Tech(
        name="SQL",
        tags=["sql", "mysql", "sql-server", "oracle", "postgresql", "join", "group-by",
              "stored-procedures", "tsql", "indexing"],
        versions=["MySQL 5.1", "SQL Server 2008", "Oracle 11g", "PostgreSQL 9.1", "MySQL 5.5"],
        libraries=["MySQL", "SQL Server", "Oracle", "PostgreSQL", "SQLite"],
        apis=["`GROUP BY`", "`LEFT JOIN`", "`COALESCE`", "`ROW_NUMBER()`", "`ON DUPLICATE KEY`"],
        errors=[
            "ERROR 1064 (42000): You have an error in your SQL syntax near '{fld} FROM {ents}'",
            "ORA-00904: \"{Fld}\": invalid identifier",
            "Violation of PRIMARY KEY constraint 'PK_{Ents}'. Cannot insert duplicate key.",
            "Column '{fld}' in field list is ambiguous",
            "ERROR: column \"{fld}\" must appear in the GROUP BY clause",
        ],
        tasks=["get the latest {ent} per customer", "delete duplicate rows but keep one",
               "pivot {ents} by month", "count rows per day including empty days"],
        snippets=[
            r"""SELECT w.name, COUNT(x.id) AS {ents}
FROM owners w
LEFT JOIN {ents} x ON x.owner_id = w.id
WHERE x.{fld} > {n}
GROUP BY w.id;""",
            r"""UPDATE {ents}
SET {fld} = (SELECT MAX({fld}) FROM {ents} WHERE status = 'open')
WHERE id = {big};""",
            r"""CREATE TABLE {ents} (
    id INT NOT NULL AUTO_INCREMENT,
    {fld} VARCHAR(50),
    created DATETIME,
    PRIMARY KEY (id)
);
INSERT INTO {ents} ({fld}, created) VALUES ('{n}', NOW());""",
        ],
        choices=[("database", ["MySQL", "PostgreSQL", "MongoDB", "SQL Server"]),
                 ("SQL client", ["SQL Developer", "Toad", "HeidiSQL", "MySQL Workbench"])],
        general_purpose=False,
    ),
    Tech(
        name="CSS",
        tags=["css", "html", "css-float", "layout", "internet-explorer-8", "css3", "html5",
              "position", "twitter-bootstrap"],
        versions=["IE 8", "Firefox 12", "Chrome 19", "Safari 5", "IE 7"],
        libraries=["Bootstrap", "Blueprint", "960.gs", "LESS", "Sass"],
        apis=["`float: left`", "`position: absolute`", "`display: inline-block`",
              "`z-index`", "`box-sizing`"],
        errors=[
            "the right column drops below the left one",
            "the footer overlaps the content",
            "the margin collapses into the parent",
            "the dropdown menu appears behind the slider",
        ],
        tasks=["center a div vertically", "make two columns the same height",
               "keep a footer at the bottom of the page", "style the {ent} table for print"],
        snippets=[
            r"""<div id="{ent}-panel">
    <div class="left">...</div>
    <div class="right">...</div>
</div>

#{ent}-panel .left { float: left; width: {n}0%; }
#{ent}-panel .right { float: right; }""",
            r""".{ent}-header {
    position: absolute;
    top: 0;
    height: {n}0px;
    margin: 0 auto;
}""",
            r"""<table class="{ents}">
  <tr><th>{Fld}</th><th>Total</th></tr>
</table>

table.{ents} td { padding: {n}px; border-collapse: collapse; }""",
        ],
        choices=[("CSS framework", ["Bootstrap", "Blueprint", "960.gs", "Foundation"]),
                 ("preprocessor", ["LESS", "Sass", "Stylus"])],
        general_purpose=False,
        errors_are_layout_problems=True,
    ),
    Tech(
        name="Bash",
        tags=["bash", "shell", "linux", "sed", "awk", "grep", "unix", "cron", "scripting"],
        versions=["bash 4.1", "bash 3.2", "GNU sed 4.2", "Ubuntu 10.04", "CentOS 6"],
        libraries=["sed", "awk", "grep", "find", "xargs", "cron"],
        apis=["`read -r`", "`${var%.*}`", "`getopts`", "`set -e`", "`trap`"],
        errors=[
            "line {n}: [: too many arguments",
            "{ent}.sh: line {n}: syntax error near unexpected token `done'",
            "bash: ./{ent}.sh: Permission denied",
            "sed: -e expression #1, char {n}: unterminated `s' command",
            "line {n}: ${{fld}/-/_}: bad substitution",
        ],
        tasks=["loop over files with spaces in their names", "replace text in many files",
               "read a file line by line", "run a script every {n} minutes"],
        snippets=[
            r"""#!/bin/bash
for f in /var/data/{ents}/*.csv; do
    count=$(wc -l < $f)
    if [ $count -gt {n} ]; then
        mv $f /var/data/archive/
    fi
done""",
            r"""grep "{fld}=" report.log | awk -F'=' '{print $2}' | sort | uniq -c""",
            r"""find . -name "*.{ent}" -mtime +{n} -exec rm {} \;
echo "cleaned up {ents}" >> /tmp/cleanup.log""",
        ],
        choices=[("shell", ["bash", "zsh", "fish"]),
                 ("scripting language for admin work", ["Perl", "Python", "bash"])],
        general_purpose=False,
    ),
    Tech(
        name="R",
        tags=["r", "ggplot2", "data.frame", "plyr", "statistics", "plot", "regression"],
        versions=["R 2.15.0", "R 2.14.1", "RStudio 0.96", "ggplot2 0.9.1"],
        libraries=["ggplot2", "plyr", "reshape2", "data.table", "lattice"],
        apis=["`aggregate()`", "`merge()`", "`apply()`", "`lm()`", "`ddply()`"],
        errors=[
            "Error in `$<-.data.frame`(`*tmp*`, \"{fld}\", value = ...) : replacement has "
            "{n} rows, data has {big}",
            "Error in model.frame.default: variable lengths differ (found for '{fld}')",
            "Error: object '{fld}' not found",
            "Warning message: NAs introduced by coercion",
        ],
        tasks=["reshape {ents} from long to wide", "plot two series on one chart",
               "apply a function to each group", "read an Excel file"],
        snippets=[
            r"""{ents} <- read.csv("{ents}.csv", header = TRUE)
agg <- aggregate({fld} ~ group, data = {ents}, FUN = mean)
plot(agg${fld}, type = "l")""",
            r"""for (i in 1:nrow({ents})) {
  {ents}${fld}[i] <- {ents}${fld}[i] * {n}
}""",
        ],
        choices=[("plotting package", ["ggplot2", "lattice", "base graphics"]),
                 ("IDE", ["RStudio", "Emacs with ESS", "Eclipse with StatET"])],
        general_purpose=False,
    ),
    Tech(
        name="Perl",
        tags=["perl", "regex", "hash", "cgi", "dbi", "parsing"],
        versions=["Perl 5.10", "Perl 5.14", "ActivePerl 5.12"],
        libraries=["DBI", "Moose", "LWP", "Catalyst", "Template Toolkit"],
        apis=["`split`", "`sort { $a <=> $b }`", "`local $/`", "`sprintf`"],
        errors=[
            "Use of uninitialized value $" + "{fld} in concatenation (.) or string at "
            "{ent}.pl line {n}.",
            "Can't locate {Ent}/Parser.pm in @INC",
            "Global symbol \"%totals\" requires explicit package name at {ent}.pl line {n}.",
            "Odd number of elements in hash assignment",
        ],
        tasks=["sort a hash by value", "read a whole file into a string",
               "match across several lines", "connect to MySQL with DBI"],
        snippets=[
            r"""open(my $fh, '<', '{ents}.txt') or die "Cannot open: $!";
while (my $line = <$fh>) {
    my ($id, ${fld}) = split /\t/, $line;
    $totals{$id} += ${fld};
}""",
            r"""my @sorted = sort { $a->{{fld}} <=> $b->{{fld}} } @{ents};
print join(", ", map { $_->{id} } @sorted), "\n";""",
        ],
        choices=[("web framework", ["Catalyst", "Dancer", "Mojolicious"]),
                 ("object system", ["Moose", "Moo", "plain bless"])],
    ),
]

GENERAL_TECHS = [tech for tech in TECHS if tech.general_purpose]

GENERIC_CHOICES = [
    ("version control system", ["Git", "Mercurial", "Subversion", "Bazaar"]),
    ("text editor", ["Vim", "Emacs", "Sublime Text 2", "Notepad++", "TextMate"]),
    ("bug tracker", ["Jira", "Redmine", "Trac", "Bugzilla"]),
    ("continuous integration server", ["Jenkins", "TeamCity", "CruiseControl"]),
    ("hosting service for code", ["GitHub", "Bitbucket", "Google Code", "SourceForge"]),
]

TOKEN_PATTERN = re.compile(r"\{(\w+)\}")


def fill(template: str, context: dict[str, str]) -> str:
    """Replace each {name} in template whose name is a key of context.

    Other braces, such as code blocks or `{id}` in Perl, stay as they are.
    """
    return TOKEN_PATTERN.sub(lambda match: context.get(match.group(1), match.group(0)), template)


def make_context(rng: random.Random, tech: Tech) -> dict[str, str]:
    entity = rng.choice(ENTITIES)
    field = rng.choice(FIELDS)
    return {
        "ent": entity,
        "Ent": entity.capitalize(),
        "a_ent": ("an " if entity[0] in "aeiou" else "a ") + entity,
        "ents": entity + "s",
        "Ents": entity.capitalize() + "s",
        "fld": field,
        "Fld": field.capitalize(),
        "n": str(rng.randint(2, 9)),
        "big": str(rng.randint(10, 9999)),
        "hex": f"{rng.randrange(16**7, 16**8):08x}",
        "lib": rng.choice(tech.libraries),
        "ver": rng.choice(tech.versions),
        "Lang": tech.name,
    }


def indent_code(code: str) -> str:
    """Format code as a Markdown code block: every non-empty line indented by 4 spaces."""
    return "\n".join("    " + line if line else "" for line in code.split("\n"))


def pick_tags(rng: random.Random, primary: list[str], pool: list[str], max_extra: int) -> list[str]:
    """Return 1 to 5 distinct tags: the primary ones in order, then a random few from pool."""
    tags = list(primary)
    extras = [tag for tag in pool if tag not in tags]
    rng.shuffle(extras)
    tags.extend(extras[: rng.randint(0, max_extra)])
    return tags[:5]


def tech_tags(rng: random.Random, tech: Tech, max_extra: int = 3) -> list[str]:
    return pick_tags(rng, [tech.tags[0]], tech.tags[1:], max_extra)


# ---------------------------------------------------------------------------
# Open: specific, with an error message, code, what was tried and versions.
# ---------------------------------------------------------------------------

OPEN_TITLES = [
    "{error_head} when {action}",
    "How do I {task} in {Lang}?",
    "{api} {symptom}",
    "{Lang}: {task} without a loop?",
    "{lib} {symptom} after upgrading to {ver}",
    "Getting \"{error_head}\" from {lib}",
    "Why does {api} give a different {fld} on {ver}?",
    "{Ents} lose their {fld} after {action}",
    "Best way to {task} in {Lang} with {lib}",
]

OPEN_INTROS = [
    "I have a {app} written in {Lang} that {purpose}.",
    "I'm fairly new to {Lang}. I'm trying to write a {app} that {purpose}.",
    "At work we maintain a {app} in {Lang}. One part of it {purpose}.",
]
# Intros that also fit SQL, Bash and R, which are rarely the language of a whole app.
TOOL_INTROS = [
    "I'm working on a {app} using {lib}. It {purpose}.",
    "Our {app} {purpose}, and it has worked fine for months.",
    "One step of our {app} is done in {Lang}: it {purpose}.",
]

LAYOUT_TITLES = [
    "{Ent} page: {error} in {ver}",
    "Why does {api} break the {ent} layout in {ver}?",
    "How do I {task}?",
    "{lib} grid: {error} when the window is narrow",
]
LAYOUT_INTROS = [
    "I'm styling the {ent} page of our {app}.",
    "Our {app} has a page that lists {ents} with their {fld}.",
    "I'm building the layout for {a_ent} overview page with {lib}.",
]
LAYOUT_PROBLEMS = [
    "In {ver} {error}, while other browsers show it correctly.",
    "As soon as a {ent} has a long {fld}, {error}.",
    "When I resize the window below {n}00 pixels, {error}.",
]

OPEN_PROBLEMS = [
    "When I try {action}, it fails with:",
    "Everything works until {a_ent} has an empty `{fld}`, then I get:",
    "It works for most {ents}, but for about {n} out of {big} I get this error:",
    "Since yesterday {action} stops with the following output:",
    "Running it from the command line prints:",
]

CODE_INTROS = [
    "Here is the relevant code:",
    "This is a reduced version of what I have:",
    "The method looks like this:",
    "Minimal example that shows the problem:",
    "Code:",
    "Simplified, the code is:",
]

OPEN_ENVIRONMENTS = [
    "I'm on {ver} ({os}).",
    "Tested with {ver} on {os}.",
    "Versions: {ver} on {os}.",
    "This happens with {ver} on {os}, and the same on a colleague's machine.",
    "Environment: {os}, {ver}.",
]


SHORT_OPEN_BODIES = [
    "I need to {task}. I know about {api}, but it doesn't seem to handle {ents} with an "
    "empty `{fld}`. Is there a built-in way, or do I have to write it myself?",
    "In {ver}, is there a way to {task} using only {lib}? The documentation for {api} "
    "mentions it, but I can't find an example.",
    "What is the idiomatic way to {task} in {Lang}? Right now I use {api} in a loop, "
    "which works but feels wrong for {big} {ents}.",
    "I'm porting code to {ver} and need to {task}. The old version used {api}, which "
    "is deprecated now. What replaces it?",
]


RESULT_MISMATCHES = [
    "I expected `{count}` {ents} but only `{n}` come back, "
    "and the {fld} of the first one is `null`.",
    "The {fld} should be `{count}`, but it comes out as `{n}`.",
    "With {count} {ents} it takes about {n} seconds; with {big} it never finishes.",
    "The first {n} {ents} look right, everything after that has the same {fld}.",
]


def compose_open(rng: random.Random) -> tuple[str, str, list[str]]:
    tech = rng.choice(TECHS)
    context = make_context(rng, tech)
    error = fill(rng.choice(tech.errors), context)
    context.update({
        "error": error,
        "error_head": error.split("\n")[0][:70].rstrip(" :."),
        "count": str(rng.randint(10, 99)),
        "action": fill(rng.choice(ACTIONS), context),
        "task": fill(rng.choice(tech.tasks), context),
        "api": rng.choice(tech.apis),
        "symptom": fill(rng.choice(SYMPTOMS), context),
        "app": rng.choice(APPS),
        "purpose": fill(rng.choice(PURPOSES), context),
        "os": rng.choice(OPERATING_SYSTEMS),
    })

    layout = tech.errors_are_layout_problems
    title = fill(rng.choice(LAYOUT_TITLES if layout else OPEN_TITLES), context)
    if rng.random() < 0.2:
        body = fill(rng.choice(SHORT_OPEN_BODIES), context)
        if rng.random() < 0.5:
            body += " " + fill(rng.choice(OPEN_ENVIRONMENTS), context)
        return title, body, tech_tags(rng, tech, max_extra=4)

    if layout:
        intros = LAYOUT_INTROS
    elif tech.general_purpose:
        intros = OPEN_INTROS + TOOL_INTROS
    else:
        intros = TOOL_INTROS
    paragraphs = [fill(rng.choice(intros), context)]

    if layout:
        paragraphs.append(fill(rng.choice(LAYOUT_PROBLEMS), context))
    else:
        paragraphs.append(fill(rng.choice(OPEN_PROBLEMS), context))
        paragraphs.append(indent_code(error))

    if rng.random() < 0.9:
        paragraphs.append(rng.choice(CODE_INTROS))
        paragraphs.append(indent_code(fill(rng.choice(tech.snippets), context)))

    if rng.random() < 0.75:
        attempt = fill(rng.choice(ATTEMPTS), context)
        outcome = fill(rng.choice(ATTEMPT_OUTCOMES), context)
        paragraphs.append(f"I tried {attempt}, but {outcome}.")
    if not layout and rng.random() < 0.4:
        paragraphs.append(fill(rng.choice(RESULT_MISMATCHES), context))
    if rng.random() < 0.7:
        paragraphs.append(fill(rng.choice(OPEN_ENVIRONMENTS), context))
    paragraphs.append(fill(rng.choice(OPEN_QUESTIONS), context))
    if rng.random() < 0.2:
        paragraphs.append(fill(rng.choice(EDITS), context))
    return title, "\n\n".join(paragraphs), tech_tags(rng, tech, max_extra=4)

# ---------------------------------------------------------------------------
# Not constructive: asks for opinions, comparisons or the best tool.
# ---------------------------------------------------------------------------

PROJECTS = [
    "web shop", "startup", "side project", "company intranet", "mobile game",
    "open source library", "university project", "client website", "data analysis project",
]

NOT_CONSTRUCTIVE_TITLES = [
    "What is the best {category} for {Lang}?",
    "{a} or {b}: which should I use for a new {project}?",
    "Which {Lang} books should every developer read?",
    "What is your favorite hidden feature of {Lang}?",
    "Is {Lang} dying?",
    "What do you think of {a}?",
    "Why is {a} so much better than {b}?",
    "Which {category} do you use, and why?",
    "Will {a} replace {b} in the next few years?",
    "{a} vs {b} vs {c}",
    "What are the pros and cons of {a}?",
    "Most useful {category} you have ever used?",
    "Should I learn {Lang} or something else first?",
]

NOT_CONSTRUCTIVE_OPENERS = [
    "I'm about to start a {project} and can't decide between {a} and {b}.",
    "I have been using {a} for {n} years and I wonder whether {b} would be a better choice.",
    "Our team keeps arguing about which {category} to standardize on.",
    "There are so many options for {a_category} these days that I don't know where to begin.",
    "Everyone on the blogs says {a} is the future, but I'm not convinced.",
    "Just curious what everyone here prefers.",
    "I'm putting together a list of recommendations for new people on our team.",
]

NOT_CONSTRUCTIVE_ASKS = [
    "Which one would you choose and why?",
    "What do you think?",
    "I'd like to hear from people who have used them in a real project.",
    "Please post one suggestion per answer so people can vote.",
    "What are your experiences?",
    "Is it worth switching, in your opinion?",
    "Which one is the best? All opinions welcome.",
    "Let's collect the best ones in one place.",
]

NOT_CONSTRUCTIVE_EXTRAS = [
    "Performance doesn't matter much to me, I care about how pleasant it is to work with.",
    "Bonus points if it's free.",
    "(I know this is a bit subjective, feel free to make it community wiki.)",
    "The {project} will have maybe {n} developers working on it.",
    "I've read the comparison pages on their websites, but of course each one says it is the best.",
]


def compose_not_constructive(rng: random.Random) -> tuple[str, str, list[str]]:
    tech = rng.choice(TECHS)
    context = make_context(rng, tech)
    if rng.random() < 0.25:
        category, options = rng.choice(GENERIC_CHOICES)
        tags = ["language-agnostic"]
    else:
        category, options = rng.choice(tech.choices)
        tags = [tech.tags[0]]
    picked = rng.sample(options, min(3, len(options)))
    context.update({
        "category": category,
        "a_category": ("an " if category[0] in "aeiouAEIOU" else "a ") + category,
        "a": picked[0],
        "b": picked[1],
        "c": picked[-1],
        "project": rng.choice(PROJECTS),
    })

    title = fill(rng.choice(NOT_CONSTRUCTIVE_TITLES), context)
    paragraphs = [fill(rng.choice(NOT_CONSTRUCTIVE_OPENERS), context)]
    if rng.random() < 0.45:
        listed = rng.sample(options, rng.randint(2, len(options)))
        paragraphs.append(rng.choice(["So far I've looked at:", "The candidates I know of:",
                                      "Options I'm considering:"]))
        paragraphs.append("\n".join(f"- {option}" for option in listed))
    if rng.random() < 0.5:
        paragraphs.append(fill(rng.choice(NOT_CONSTRUCTIVE_EXTRAS), context))
    paragraphs.append(fill(rng.choice(NOT_CONSTRUCTIVE_ASKS), context))

    tags.append(category.replace(" ", "-").lower())
    return title, "\n\n".join(paragraphs), pick_tags(rng, tags, tech.tags[1:], 1)


# ---------------------------------------------------------------------------
# Off topic: hardware, careers, licensing, servers and desktop software.
# Each topic lists title templates, body sentences, a closing question and tags.
# ---------------------------------------------------------------------------

OFF_TOPIC_WORDS = {
    "device": ["external hard drive", "laptop", "graphics card", "keyboard", "docking station",
               "monitor", "USB hub", "power supply", "router"],
    "ide": ["Visual Studio", "Eclipse", "Xcode", "IntelliJ IDEA", "NetBeans"],
    "role": ["web developer", "student", "freelance developer", "Java developer",
             "game programmer", "sysadmin", "junior developer", "database administrator"],
    "cert": ["Oracle Java", "Microsoft MCSD", "Zend PHP", "Cisco CCNA", "PMP", "Scrum Master"],
    "license": ["GPL v2", "GPL v3", "LGPL", "Creative Commons BY-NC license", "AGPL"],
    "service": ["Twitter", "Google Maps", "Facebook", "Flickr", "YouTube", "Dropbox"],
    "desktop_app": ["Skype", "Adobe Reader", "Java", "iTunes", "Flash Player", "Dropbox"],
    "site_dir": ["shop", "blog", "wiki", "forum", "clients", "intranet"],
    "server_os": ["Ubuntu 10.04", "Ubuntu 12.04", "Debian 6", "CentOS 5.8", "CentOS 6"],
}

SERVER_CONFIGS = [
    """<VirtualHost *:80>
    ServerName www.{site_dir}.example
    DocumentRoot /var/www/{site_dir}
</VirtualHost>""",
    """0 3 * * * /usr/local/bin/backup.sh > /dev/null 2>&1
*/{n} * * * * /usr/bin/php /var/www/{site_dir}/cron.php""",
    """server {
    listen 80;
    server_name {site_dir}.example;
    root /srv/{site_dir}/public;
}""",
    """/dev/sdb1  /mnt/backup  ext3  defaults  0  2""",
]

OFF_TOPIC_TOPICS = {
    "hardware": {
        "titles": [
            "Which laptop should I buy for {Lang} development?",
            "Is {n} GB of RAM enough to run {ide} and a virtual machine?",
            "My {device} makes a clicking noise after a few hours",
            "Second monitor goes black when my {os} machine wakes up",
            "Laptop overheats while compiling large projects",
            "Does an SSD really make builds faster?",
            "{device} keeps disconnecting from my PC",
        ],
        "sentences": [
            "I'm a {role} and my current machine is a {n}-year-old laptop with {n2} GB of RAM.",
            "A full build of our {Lang} project takes about {n}0 minutes, and the fan never stops.",
            "My budget is about ${budget}. Should I spend it on a faster CPU or on an SSD?",
            "The {device} is about {n} months old and still under warranty, but the shop "
            "says nothing is wrong with it.",
            "I've already updated the BIOS and all drivers from the manufacturer's site.",
            "It started after I moved the desk and plugged everything back in.",
            "Most of the day I run {ide}, a browser with {n}0 tabs and a database server.",
            "The {device} was the cheapest one in the shop, maybe that was a mistake.",
            "My employer pays for {n2} new machine every {n} years, so I want to choose well.",
            "I also play games on it at the weekend, if that matters.",
        ],
        "asks": ["Any hardware recommendations?", "Is this a hardware fault or a driver problem?",
                 "What would you buy?", "How can I find out which part is broken?",
                 "Should I send it back?"],
        "tags": ["hardware", "laptop", "ssd", "monitor", "performance", "ram"],
    },
    "careers": {
        "titles": [
            "Should I leave my {Lang} job for a startup that offers equity?",
            "How do I explain a {n}-year gap on my CV?",
            "Is a {cert} certification worth it?",
            "How much should I charge per hour for freelance {Lang} work?",
            "My manager wants the team to work every weekend",
            "Do I need a computer science degree to work as a {role}?",
            "How do I prepare for a programming interview at a big company?",
            "Moving from {Lang} development to management: good idea?",
        ],
        "sentences": [
            "I've been working as a {role} for {n} years, mostly with {Lang}.",
            "The pay is fine but I'm bored, and a friend offered me a place at his startup.",
            "I live in a small town and there are almost no jobs for {Lang} developers here.",
            "I got an offer that pays about {n}0% more than my current salary.",
            "My degree is in biology, I taught myself programming.",
            "Our company was bought last year and since then the atmosphere is bad.",
            "I'm {n}5 years old and wonder whether it's too late to switch.",
            "My current team uses {lib}, and nobody else in the area seems to.",
            "The recruiter asked for my salary expectations and I had no idea what to say.",
            "I have an interview for a {role} position in {n} days.",
        ],
        "asks": ["What would you do in my position?", "How should I bring this up with my boss?",
                 "Is this normal in our industry?", "Would employers care about this?"],
        "tags": ["career-development", "job-interview", "freelancing", "salary", "certification"],
    },
    "licensing": {
        "titles": [
            "Can I use a GPL library in a closed-source {Lang} application?",
            "Do I need permission to use icons from a free icon pack in a paid app?",
            "Is it legal to sell an app that uses the {service} API?",
            "Does the LGPL allow me to link {lib} statically?",
            "Who owns the code I write in my free time?",
            "Can my former employer stop me from reusing my own code?",
        ],
        "sentences": [
            "We are building a commercial {project} and want to use {lib}, which is "
            "released under the {license}.",
            "My contract says that everything I create 'in connection with the business' "
            "belongs to the company.",
            "Do we have to publish our source code if we ship the program to customers?",
            "Do I need to mention the author somewhere in the app?",
            "I'm not a lawyer and we can't afford one for this.",
            "The {project} would be sold to about {n} customers at first.",
            "I wrote most of the {lib} integration code at home, on my own laptop.",
            "The {license} text is long and I don't understand the part about distribution.",
            "A competitor has already copied parts of our {project}, can we do anything?",
        ],
        "asks": ["What exactly am I allowed to do?", "Is this legal?",
                 "Which license terms apply here?", "Has anyone been in this situation?"],
        "tags": ["licensing", "gpl", "legal", "copyright", "open-source"],
    },
    "servers": {
        "titles": [
            "Apache virtual host serves the wrong site on {server_os}",
            "How do I set up a mail server for our small office?",
            "VPS runs out of memory every night at 3 AM",
            "DNS change for my domain not visible after {n} days",
            "Set up RAID 1 on a home server",
            "Remote Desktop to Windows Server 2008 disconnects every few minutes",
            "How do I limit bandwidth per user on our office network?",
        ],
        "sentences": [
            "I rent a small VPS with {n}00 MB of RAM running {server_os}.",
            "Our office has about {n}0 people and one old server in a cupboard.",
            "The hosting company's support says it's a configuration problem on my side.",
            "I followed a tutorial I found, but it was written for an older release.",
            "The logs under /var/log don't show anything unusual.",
            "The {site_dir} site gets maybe {n}00 visitors a day, so it's not about load.",
            "Our ISP gave us {n} static IP addresses.",
            "I restarted the server {n} times today and it helps for an hour or so.",
            "The previous admin left no documentation at all.",
        ],
        "asks": ["How do I configure this correctly?", "Which settings should I change?",
                 "What is the usual way to set this up?", "Where should I start looking?"],
        "tags": ["apache", "server", "linux", "dns", "vps", "email", "networking",
                 "windows-server-2008", "ubuntu", "nginx"],
    },
    "software": {
        "titles": [
            "How do I stop {desktop_app} from updating automatically?",
            "Excel formula to count cells with a red background",
            "Outlook keeps asking for my password",
            "{os} won't boot after installing updates",
            "How do I recover a deleted Word document?",
            "Firefox is very slow since the last update",
        ],
        "sentences": [
            "This is on my home computer with {os}.",
            "I already reinstalled it twice.",
            "It started after the last automatic update.",
            "My colleague has the same version and doesn't have the problem.",
            "I tried the help pages of {desktop_app} but they only show the basics.",
            "It is my parents' computer and they only use it for email and photos.",
            "Every time I start it, it takes about {n} minutes before I can do anything.",
            "The IT department at work says it's not their job because it's my own laptop.",
        ],
        "asks": ["How can I fix this?", "Is there a setting for this?",
                 "Does anyone know a workaround?"],
        "tags": ["windows", "excel", "outlook", "firefox", "ms-word", "windows-7"],
    },
}


def compose_off_topic(rng: random.Random) -> tuple[str, str, list[str]]:
    tech = rng.choice(TECHS)
    context = make_context(rng, tech)
    for key, words in OFF_TOPIC_WORDS.items():
        context[key] = rng.choice(words)
    context.update({
        "n2": str(rng.choice([1, 2, 4, 8])),
        "budget": str(rng.choice([600, 800, 1000, 1200, 1500, 2000])),
        "os": rng.choice(OPERATING_SYSTEMS),
        "project": rng.choice(PROJECTS),
    })
    topic_name = rng.choice(list(OFF_TOPIC_TOPICS))
    topic = OFF_TOPIC_TOPICS[topic_name]

    title = fill(rng.choice(topic["titles"]), context)
    sentences = rng.sample(topic["sentences"], rng.randint(2, 4))
    paragraphs = [" ".join(fill(sentence, context) for sentence in sentences)]
    if topic_name == "servers" and rng.random() < 0.6:
        paragraphs.append("This is the relevant part of my configuration:")
        paragraphs.append(indent_code(fill(rng.choice(SERVER_CONFIGS), context)))
    paragraphs.append(rng.choice(topic["asks"]))

    primary = [rng.choice(topic["tags"])]
    if topic_name in ("careers", "licensing") and rng.random() < 0.4:
        primary.append(tech.tags[0])
    return title, "\n\n".join(paragraphs), pick_tags(rng, primary, topic["tags"], 2)


# ---------------------------------------------------------------------------
# Not a real question: very short, vague, far too broad, or a homework dump.
# ---------------------------------------------------------------------------

VAGUE_TITLES = [
    "{lang} help", "problem with {lib}", "code not working", "error plz help",
    "{Lang} question", "need help with {task}", "what is wrong with this",
    "how to do this in {lang}", "{lib} not working", "urgent!! {lang} problem",
]

VAGUE_OPENERS = [
    "i have a problem with my {lang} code", "my {lib} program dont work", "i am new to {lang}",
    "hi all", "I am making {a_kind} for school", "I have this assignment in {lang}",
    "my teacher gave us a project", "Hello, I am beginner",
]
VAGUE_DETAILS = [
    "it doesnt work", "it gives error on line {n}", "nothing happens when i click the button",
    "i want to {task}", "the output is wrong", "{lib} is not working on my computer",
    "it worked on my friends computer", "i dont know where to start",
]
VAGUE_PLEAS = [
    "please help me fix it", "plz help", "give me the code", "i need this fast pls",
    "anyone know how to do this??", "thanks", "what to do?", "help me please its urgent",
]

BROAD_TITLES = [
    "How to build a {kind} like {famous}?",
    "I want to make a game like {game}",
    "How do I learn programming?",
    "How to make my own operating system?",
    "Where do I start with {Lang}?",
    "How does the internet work?",
]

BROAD_BODIES = [
    "I want to make a {kind} like {famous} with {Lang}. What do I need to learn and how "
    "long will it take? Please explain step by step.",
    "I have an idea for a {kind} that will be better than {famous}. I don't know "
    "programming yet but I learn fast. Can someone give me a full tutorial?",
    "What is the complete list of things I need to know? Please explain everything.",
    "I know a little HTML. What should I do next to make something like {game}?",
]

KINDS_AND_EXAMPLES = [
    ("social network", "Facebook"), ("video site", "YouTube"), ("online shop", "Amazon"),
    ("search engine", "Google"), ("auction site", "eBay"), ("photo sharing app", "Instagram"),
]
BROAD_EXTRAS = [
    "I have {n} months for this.", "I already know a bit of {lang}.", "My budget is zero.",
    "Which language is best for it?", "I will share the profit with whoever helps me.",
    "Please don't send links, just explain it here.",
]
GAMES = ["Minecraft", "Angry Birds", "World of Warcraft", "FarmVille", "Tetris"]

HOMEWORK_TASKS = [
    "reads {n} numbers and prints the largest", "checks whether a word is a palindrome",
    "prints a triangle of stars", "converts Celsius to Fahrenheit",
    "counts the vowels in a sentence", "simulates an ATM machine",
    "sorts {n} names alphabetically", "calculates the grades of {n} students",
    "finds all prime numbers below {big}", "reverses a linked list",
    "manages a library of books", "plays tic tac toe against the computer",
    "computes the average {fld} of {n} {ents}", "prints the multiplication table up to {n}",
]

HOMEWORK_RULES = [
    "The program must ask the user for the input.",
    "Use at least one function.",
    "Do not use any built-in sort.",
    "Print the result in a table.",
    "Use a while loop.",
    "Handle invalid input.",
    "Store the data in an array of {n} elements.",
    "The output must match the example exactly.",
    "Comment every line.",
    "No global variables.",
    "Read the input from a file called {ents}.txt.",
    "Use recursion.",
]

HOMEWORK_INTROS = [
    "Write a program in {Lang} that {homework}.",
    "Assignment {n}: using {Lang}, write a program that {homework}.",
    "My teacher wants a {Lang} program that {homework}.",
    "Q{n}. Create a {Lang} application which {homework}.",
]

HOMEWORK_PLEAS = [
    "I need it until tomorrow, please send the full code.",
    "please help!!",
    "Thanks in advance.",
    "I have {n} more tasks like this one.",
    "It is due on {weekday}, please hurry.",
    "i dont understand anything of this",
]

CONCEPTS = [
    "object oriented programming", "pointers", "MVC", "recursion", "cloud computing",
    "web services", "design patterns", "multithreading", "AJAX", "polymorphism",
]


def compose_not_a_real_question(rng: random.Random) -> tuple[str, str, list[str]]:
    variant = rng.choices(["vague", "broad", "homework", "dump", "concept"], [4, 2, 3, 2, 1])[0]
    tech = rng.choice(GENERAL_TECHS if variant == "homework" else TECHS)
    context = make_context(rng, tech)
    kind, famous = rng.choice(KINDS_AND_EXAMPLES)
    context.update({
        "lang": tech.name.lower(),
        "task": fill(rng.choice(tech.tasks), context),
        "kind": kind,
        "a_kind": ("an " if kind[0] in "aeiou" else "a ") + kind,
        "famous": famous,
        "game": rng.choice(GAMES),
        "homework": fill(rng.choice(HOMEWORK_TASKS), context),
        "concept": rng.choice(CONCEPTS),
        "weekday": rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
    })
    tags = tech_tags(rng, tech, max_extra=1)

    if variant == "vague":
        title = fill(rng.choice(VAGUE_TITLES), context)
        parts = [rng.choice(VAGUE_OPENERS), rng.choice(VAGUE_DETAILS), rng.choice(VAGUE_PLEAS)]
        body = fill(rng.choice([". ", " ", ", "]).join(parts[rng.randint(0, 1):]), context)
    elif variant == "broad":
        title = fill(rng.choice(BROAD_TITLES), context)
        body = fill(rng.choice(BROAD_BODIES), context)
        if rng.random() < 0.7:
            body += " " + fill(rng.choice(BROAD_EXTRAS), context)
    elif variant == "homework":
        title = fill(rng.choice(["{Lang} program that {homework}", "Homework help: {homework}",
                                 "need code for program that {homework}"]), context)
        rules = rng.sample(HOMEWORK_RULES, rng.randint(2, 4))
        numbered = "\n".join(f"{number}. {fill(rule, context)}"
                             for number, rule in enumerate(rules, start=1))
        paragraphs = [fill(rng.choice(HOMEWORK_INTROS), context), numbered]
        if rng.random() < 0.4:
            paragraphs.append("here is what i have")
            paragraphs.append(fill(rng.choice(tech.snippets), context))  # pasted without indent
        paragraphs.append(fill(rng.choice(HOMEWORK_PLEAS), context))
        body = "\n\n".join(paragraphs)
        tags = pick_tags(rng, [tech.tags[0], "homework"], [], 0)
    elif variant == "dump":
        title = fill(rng.choice(["what is wrong with my {lang} code", "{Lang} code doesnt work",
                                 "error in my program"]), context)
        code = fill(rng.choice(tech.snippets), context)
        if rng.random() < 0.5:
            code = indent_code(code)
        body = "\n\n".join(["here is my code", code,
                            rng.choice(["it doesnt work. whats wrong?", "It gives error.",
                                        "fix it please"])])
    else:
        title = fill(rng.choice(["What is {concept}?", "explain {concept}",
                                 "{concept} in {Lang}"]), context)
        body = fill(rng.choice([
            "Can someone explain {concept} to me? I read about it but didn't understand anything.",
            "What is {concept} and why do we need it? Explain with all details.",
            "Our teacher talked about {concept} in {Lang} today. What is it?",
            "I read {n} articles about {concept} and I'm more confused than before. "
            "Please explain it simply.",
            "Is {concept} important? Do I need it for {a_kind}?",
        ]), context)

    if rng.random() < 0.5:
        title = title.lower()
    return title, body, tags


# ---------------------------------------------------------------------------
# Too localized: one site, one typo, one date, one outage or one company's system.
# ---------------------------------------------------------------------------

SITE_PREFIXES = ["maple", "harbor", "copper", "riverside", "oldtown", "brightside",
                 "northfield", "silverlake", "greenhill", "bluebird"]
SITE_SUFFIXES = ["bakery", "cycles", "books", "garage", "dental", "florist", "pets",
                 "tiles", "yoga", "records"]
SITE_PAGES = ["checkout", "contact", "gallery", "menu", "prices", "booking", "about-us"]
SITE_PROBLEMS = [
    "the menu disappears in Internet Explorer 8",
    "every price is shown twice",
    "the images in the slider don't load",
    "the contact form doesn't send any email",
    "the text overlaps the logo on the iPad",
    "the page is completely white",
]
SERVICE_ERRORS = ["500", "503", "401", "403", "a timeout"]


def compose_too_localized(rng: random.Random, posted: datetime) -> tuple[str, str, list[str]]:
    variant = rng.choice(["site", "typo", "date", "outage", "internal"])
    tech = rng.choice(GENERAL_TECHS if variant == "typo" else TECHS)
    context = make_context(rng, tech)
    site = rng.choice(SITE_PREFIXES) + rng.choice(SITE_SUFFIXES) + ".example"
    day = posted - timedelta(days=rng.randint(0, 3))
    context.update({
        "site": site,
        "page": rng.choice(SITE_PAGES),
        "problem": rng.choice(SITE_PROBLEMS),
        "date": f"{day:%B} {day.day}, {day.year}",
        "service": rng.choice(OFF_TOPIC_WORDS["service"]),
        "service_error": rng.choice(SERVICE_ERRORS),
        "purpose": fill(rng.choice(PURPOSES), context),
        "app": rng.choice(APPS),
        "hour": str(rng.randint(8, 17)),
    })

    if variant == "site":
        title = fill(rng.choice(["Why does the {page} page on {site} look broken?",
                                 "Problem on my site {site}",
                                 "{site}: {problem}"]), context)
        paragraphs = [
            fill("On our site {site} the {page} page looked fine until yesterday's update. "
                 "Now {problem}.", context),
            fill("Here is the address: http://www.{site}/{page}", context),
            rng.choice(["Can somebody please have a look and tell me what is wrong?",
                        "I didn't build the site myself, the previous developer left. "
                        "My boss needs it fixed today."]),
        ]
        tags = pick_tags(rng, [rng.choice(["html", "css", "javascript", "php", "wordpress"])],
                         ["html", "css", "jquery", "php"], 1)
    elif variant == "typo":
        field = context["fld"]
        context["typo"] = field[:-2] + field[-1] + field[-2]
        title = fill(rng.choice(["{Lang} loop never ends", "Why is my {fld} variable always empty?",
                                 "Compile error on line {n} of {ent} code"]), context)
        paragraphs = [
            "This code worked yesterday and now it doesn't:",
            indent_code(fill(rng.choice(tech.snippets), context)),
            fill(rng.choice([
                "EDIT: never mind, I had typed `{typo}` instead of `{fld}` on line {n}. Sorry!",
                "Found it myself, a missing semicolon after the `{fld}` line.",
                "Solved: I was editing a copy of the file in another folder.",
            ]), context),
        ]
        tags = tech_tags(rng, tech, max_extra=1)
    elif variant == "date":
        title = fill(rng.choice(["Our nightly {ent} job failed only on {date}",
                                 "Report shows wrong totals for {date}",
                                 "Cron job ran twice on {date}"]), context)
        paragraphs = [
            fill("Our {Lang} script that {purpose} failed last night ({date}) and works on "
                 "every other day.", context),
            rng.choice(["Nothing was deployed that day.",
                        "The server clock shows the right time now.",
                        "The logs for that night are empty."]),
            "Does anyone know what was special about that date?",
        ]
        tags = pick_tags(rng, [tech.tags[0]], ["date", "cron", "datetime", "timezone"], 2)
    elif variant == "outage":
        title = fill(rng.choice(["Is the {service} API down right now?",
                                 "{service} login stopped working today",
                                 "Did {service} change something this morning?"]), context)
        paragraphs = [
            fill(rng.choice([
                "Since about {hour} o'clock today every call to the {service} API returns "
                "{service_error}. It worked this morning and I didn't change anything.",
                "Our {app} uses the {service} API to show {ents}. Today, {date}, it only gets "
                "{service_error} back.",
                "Starting this afternoon our {service} integration fails with {service_error} "
                "for every {ent} we send.",
            ]), context),
            rng.choice(["Is it just me?", "Is anyone else seeing this?",
                        "Is there a status page somewhere?"]),
        ]
        tags = pick_tags(rng, ["api", context["service"].lower().replace(" ", "-")], [], 0)
    else:
        context["codename"] = rng.choice(["Falcon", "Atlas", "Orion", "Hermes", "Juniper"])
        title = fill(rng.choice(["Error {big} in our company's {app}",
                                 "What does error {big} mean in {codename}?"]), context)
        paragraphs = [
            fill("At work we use an internal {app} called {codename}. Since Monday it shows "
                 "error {big} when I try to save {a_ent}.", context),
            "Nobody who built it still works here.",
            fill("What does error {big} mean?", context),
        ]
        tags = tech_tags(rng, tech, max_extra=1)

    return title, "\n\n".join(paragraphs), tags


def compose_question(
    rng: random.Random, style: str, posted: datetime
) -> tuple[str, str, list[str]]:
    """Return (title, body, tags) for a question written in the style of label `style`."""
    if style == OPEN:
        return compose_open(rng)
    if style == NOT_CONSTRUCTIVE:
        return compose_not_constructive(rng)
    if style == OFF_TOPIC:
        return compose_off_topic(rng)
    if style == NOT_A_REAL_QUESTION:
        return compose_not_a_real_question(rng)
    if style == TOO_LOCALIZED:
        return compose_too_localized(rng, posted)
    raise ValueError(f"unknown label {style!r}; expected one of {list(LABEL_COUNTS)}")


# ---------------------------------------------------------------------------
# Metadata: dates, ids, reputation. The distributions are invented. Closed questions
# get newer accounts and less reputation, so the metadata carries a signal of its own.
# ---------------------------------------------------------------------------

# Median reputation at posting time, and the chance that the owner has reputation 1.
REPUTATION_MEDIAN = {
    OPEN: 180, NOT_CONSTRUCTIVE: 90, OFF_TOPIC: 45, TOO_LOCALIZED: 30, NOT_A_REAL_QUESTION: 8,
}
REPUTATION_ONE_CHANCE = {
    OPEN: 0.10, NOT_CONSTRUCTIVE: 0.15, OFF_TOPIC: 0.20, TOO_LOCALIZED: 0.20,
    NOT_A_REAL_QUESTION: 0.35,
}
# Mean account age in days when the question is posted.
ACCOUNT_AGE_MEAN_DAYS = {
    OPEN: 400, NOT_CONSTRUCTIVE: 250, OFF_TOPIC: 200, TOO_LOCALIZED: 120, NOT_A_REAL_QUESTION: 90,
}
# Rough estimates of the highest question and user ids in mid-2012, used only to scale
# the invented ids to a plausible range.
LAST_POST_ID = 11_800_000
LAST_USER_ID = 1_550_000


def draw_post_time(rng: random.Random) -> datetime:
    span = (LAST_POST - FIRST_POST).total_seconds()
    # Density rises linearly toward LAST_POST, as the site grew over these years.
    return FIRST_POST + timedelta(seconds=int(rng.triangular(0, span, span)))


def scale_id(moment: datetime, start: datetime, last_id: int) -> int:
    """Map a date to an invented id that grows faster than linearly with time."""
    fraction = (moment - start).total_seconds() / (LAST_POST - start).total_seconds()
    return 1 + int(last_id * max(fraction, 0.0) ** 1.5)


def draw_owner(rng: random.Random, label: str, posted: datetime) -> tuple[datetime, int, int]:
    """Return (account creation time, reputation, undeleted answer count)."""
    if label == NOT_A_REAL_QUESTION and rng.random() < 0.5:
        age_days = rng.uniform(0.0, 1.0)
    else:
        age_days = rng.expovariate(1.0 / ACCOUNT_AGE_MEAN_DAYS[label])
    created = posted - timedelta(days=age_days)
    if created < SITE_LAUNCH:
        created = SITE_LAUNCH + (posted - SITE_LAUNCH) * rng.random()
    created = created.replace(microsecond=0)

    # New accounts start with reputation 1.
    if age_days < 1.0 or rng.random() < REPUTATION_ONE_CHANCE[label]:
        reputation = 1
    else:
        reputation = max(1, int(rng.lognormvariate(math.log(REPUTATION_MEDIAN[label]), 1.4)))
    answers = int(rng.random() * reputation / 25)
    return created, reputation, answers


def draw_closed_time(rng: random.Random, posted: datetime) -> datetime:
    # Invented delay with a median of 90 minutes and a cap of 120 days.
    minutes = min(rng.lognormvariate(math.log(90), 1.5), 120 * 24 * 60)
    return posted + timedelta(minutes=max(minutes, 1.0))


# ---------------------------------------------------------------------------
# Assembly and output.
# ---------------------------------------------------------------------------

def choose_noise_style(rng: random.Random, label: str) -> str:
    """Pick the label whose style a noisy question of `label` is written in."""
    closed_labels = [other for other in LABEL_COUNTS if other not in (OPEN, label)]
    if label == OPEN:
        return rng.choice(closed_labels)
    if rng.random() < NOISE_OPEN_STYLE_CHANCE:
        return OPEN
    return rng.choice(closed_labels)


def assign_styles(rng: random.Random) -> list[tuple[str, str]]:
    """Return shuffled (label, style) pairs.

    A NOISE_FRACTION of each label's questions gets the style of another label.
    """
    pairs = []
    for label, count in LABEL_COUNTS.items():
        noisy_count = round(count * NOISE_FRACTION)
        pairs.extend((label, choose_noise_style(rng, label)) for _ in range(noisy_count))
        pairs.extend((label, label) for _ in range(count - noisy_count))
    rng.shuffle(pairs)
    return pairs


def build_rows(seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    questions = []
    seen_bodies: set[str] = set()
    for label, style in assign_styles(rng):
        posted = draw_post_time(rng)
        title, body, tags = compose_question(rng, style, posted)
        while body in seen_bodies:
            title, body, tags = compose_question(rng, style, posted)
        seen_bodies.add(body)
        questions.append((posted, label, title, body, tags))

    questions.sort(key=lambda question: question[0])
    rows = []
    previous_post_id = 0
    used_user_ids: set[int] = set()
    for posted, label, title, body, tags in questions:
        post_id = max(scale_id(posted, FIRST_POST, LAST_POST_ID), previous_post_id + 1)
        post_id += rng.randint(0, 40)
        previous_post_id = post_id

        owner_created, reputation, answers = draw_owner(rng, label, posted)
        user_id = scale_id(owner_created, SITE_LAUNCH, LAST_USER_ID) + rng.randint(0, 300)
        while user_id in used_user_ids:
            user_id += 1
        used_user_ids.add(user_id)

        closed = "" if label == OPEN else draw_closed_time(rng, posted).strftime(DATE_FORMAT)
        padded_tags = tags + [""] * (5 - len(tags))
        rows.append({
            "PostId": str(post_id),
            "PostCreationDate": posted.strftime(DATE_FORMAT),
            "OwnerUserId": str(user_id),
            "OwnerCreationDate": owner_created.strftime(DATE_FORMAT),
            "ReputationAtPostCreation": str(reputation),
            "OwnerUndeletedAnswerCountAtPostTime": str(answers),
            "Title": title,
            "BodyMarkdown": body,
            **{f"Tag{number}": tag for number, tag in enumerate(padded_tags, start=1)},
            "PostClosedDate": closed,
            "OpenStatus": label,
        })
    return rows


def render_csv(rows: list[dict[str, str]]) -> bytes:
    # NOTE: records end in "\n" and newlines inside bodies are "\n". The line endings of
    # the original Kaggle file were not checked, so readers should accept "\r\n" as well.
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, quoting=csv.QUOTE_MINIMAL,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed for random.Random (default: {DEFAULT_SEED})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="path of the gzipped CSV to write (default: the packaged sample)")
    args = parser.parse_args()

    rows = build_rows(args.seed)
    # mtime=0 keeps the gzip header, and so the file, identical between runs.
    data = gzip.compress(render_csv(rows), compresslevel=9, mtime=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)

    counts = {label: sum(row["OpenStatus"] == label for row in rows) for label in LABEL_COUNTS}
    print(f"wrote {len(rows)} questions to {args.output}: {counts}")


if __name__ == "__main__":
    main()
